#!/usr/bin/env bash
# leakgate's benchmark: builds the release binary, then runs bench/bench.py (see its docstring).
#
#   bash bench/run.sh                 all six scenarios, 5 runs each (a few minutes on 2 cores)
#   bash bench/run.sh --quick         scenario 1 on a smaller tree, one run (CI smoke test)
#   bash bench/run.sh --runs 9 --scenarios 1,4 --json /tmp/raw.json
#   bash bench/run.sh --install-peers also apt-get install gitleaks when Debian has it
#
# Inputs are built once under ${BENCH_CACHE:-$HOME/.cache/leakgate-bench}. Set LEAKGATE to
# time another binary (the build step is then skipped). Exit 2 if any tool fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

args=()
for a in "$@"; do
    if [ "$a" = "--install-peers" ]; then
        # gitleaks is packaged by Debian in some releases; betterleaks is not packaged there.
        if command -v gitleaks >/dev/null; then
            echo "[bench] gitleaks already on PATH" >&2
        elif apt-cache policy gitleaks 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            apt-get install -y -q gitleaks >&2
        else
            echo "[bench] gitleaks: no Debian package here (apt-get update first?); not installed" >&2
        fi
        command -v betterleaks >/dev/null ||
            echo "[bench] betterleaks: not packaged by Debian; install it by hand to compare" >&2
    else
        args+=("$a")
    fi
done

# Peak RSS is read with GNU time (see measure() in bench.py); install it when it is missing.
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[bench] installing GNU time" >&2
    { apt-get install -y -q time || { apt-get update -q && apt-get install -y -q time; }; } >&2 ||
        echo "[bench] could not install GNU time; peak RSS falls back to wait4" >&2
fi

if [ -z "${LEAKGATE:-}" ]; then
    (cd "$root" && cargo build --release --quiet)
    export LEAKGATE="$root/target/release/leakgate"
fi
if ! command -v git >/dev/null || ! command -v python3 >/dev/null; then
    echo "bench: needs git and python3" >&2
    exit 2
fi
exec python3 -B "$here/bench.py" ${args[@]+"${args[@]}"}
