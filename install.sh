#!/bin/sh
# Build and install leakgate, then install its pre-commit hooks (pre-commit and pre-applypatch, in
# the repository you run this from and its checked-out submodules, if any). Safe to run twice: cargo reinstalls in place and `leakgate install` leaves an
# up-to-date hook alone. Usage: /path/to/leakgate/install.sh [--hook pre-commit|pre-push|both]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
caller=$(pwd)

command -v cargo >/dev/null 2>&1 || {
  echo "install.sh: cargo is required (https://rustup.rs)" >&2
  exit 2
}
# The release build is the long part (about 2 minutes on 2 cores, longer the first time crates
# are downloaded): say so before a silent wait that looks like a hang.
echo "install.sh: building leakgate (release build, a few minutes; pip users: README, \"Install\") ..." >&2
cargo install --locked --quiet --path "$here"

bin_dir="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
leakgate="$bin_dir/leakgate"
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "install.sh: note: $bin_dir is not on PATH; the hook remembers the full path anyway" >&2 ;;
esac

cd "$caller"
if git rev-parse --git-dir >/dev/null 2>&1; then
  "$leakgate" install "$@"
else
  echo "install.sh: installed $leakgate; run '$leakgate install' inside a repository to add the hook" >&2
fi
