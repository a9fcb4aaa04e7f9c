#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests drive (the real pre-commit
# framework, a SARIF schema validator, maturin for the wheel tests) into a private virtualenv,
# then runs every Rust test.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
# Reinstalled whenever tests/requirements.txt changes (a copy of the installed list is kept).
if ! cmp -s tests/requirements.txt "$venv/requirements.installed"; then
  # pip runs quietly: say what the wait is for, once, before it.
  echo "tests/run.sh: installing the test tools (tests/requirements.txt) into $venv ..." >&2
  mkdir -p target
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt "$venv/requirements.installed"
fi
export PATH="$PWD/$venv/bin:$PATH"
export LEAKGATE_TEST_PYTHON="$PWD/$venv/bin/python"

cargo test --locked "$@"
