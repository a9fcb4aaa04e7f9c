#!/usr/bin/env bash
# Issue 4's false-positive measurement: leakgate over transformers + django staged as a first
# commit; prints counts per rule and per 100k added lines, writes the findings to a TSV.
#
#   bash bench/fp.sh [--tsv PATH] [--context N]
#
# Inputs are cached under ${BENCH_CACHE:-$HOME/.cache/leakgate-bench}; LEAKGATE picks a binary
# (otherwise the release build is brought up to date first). Never prints full secrets.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
if [ -z "${LEAKGATE:-}" ]; then
    (cd "$root" && cargo build --release --quiet)
    export LEAKGATE="$root/target/release/leakgate"
fi
exec python3 -B "$here/fp.py" "$@"
