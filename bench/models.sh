#!/usr/bin/env bash
# Issue 16's model-file measurement: leakgate side by side with picklescan, modelscan and
# fickling on the generated model fixtures (tests/fixtures/models, malicious and benign by
# expected.json) or on a held-out set (--set DIR with malicious/ and benign/ under it).
#
#   bash bench/models.sh [--set DIR] [--timeout S] [--json PATH]
#
# The peers are installed from PyPI (pinned) into ${BENCH_CACHE:-$HOME/.cache/leakgate-bench}/
# models-venv on first use. LEAKGATE picks a binary (otherwise the release build is brought up
# to date first). Every file is only handed to the scanners: nothing here loads a model.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache=${BENCH_CACHE:-$HOME/.cache/leakgate-bench}
venv="$cache/models-venv"
# Versions the figures in the README were taken with (fickling 0.1.12 imports
# typing_extensions without declaring it).
peers=(picklescan==1.0.5 modelscan==0.8.8 fickling==0.1.12 typing_extensions==4.16.0)
if ! "$venv/bin/python" -c "import picklescan, modelscan, fickling" 2>/dev/null; then
    mkdir -p "$cache"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${peers[@]}"
fi
if [ -z "${LEAKGATE:-}" ]; then
    (cd "$root" && cargo build --release --quiet)
    export LEAKGATE="$root/target/release/leakgate"
fi
export MODELS_VENV="$venv"
exec python3 -B "$here/models.py" --fixtures "$root/tests/fixtures/models" "$@"
