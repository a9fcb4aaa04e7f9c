#!/bin/sh
# Build the pip wheel `leakgate-bin` (the native leakgate binary, no Python at run time) into
# dist/. maturin comes from PyPI into a private virtualenv under target/; the build is a release
# build (a few minutes), then `pip install dist/leakgate_bin-*.whl` takes seconds anywhere with
# the same platform. Usage: sh python/build-wheel.sh   (from anywhere)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/target/maturin-venv"
if [ ! -x "$venv/bin/maturin" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check maturin==1.16.0
fi
echo "build-wheel.sh: release build of leakgate (a few minutes on 2 cores) ..." >&2
cd "$root/python/leakgate-bin"
"$venv/bin/maturin" build --release --locked --out "$root/dist"
