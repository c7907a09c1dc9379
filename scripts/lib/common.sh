# shellcheck shell=bash
# Common paths, toolchain variables and logging for the CABA workbench scripts.
# Sourced, never run.

set -euo pipefail

CABA_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CABA_CACHE=${CABA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caba}

# Pinned inputs. Change them here and nowhere else.
CABA_LINUX_PKG=linux-source-6.12
CABA_LINUX_TARBALL=/usr/src/linux-source-6.12.tar.xz
CABA_RUST_VERSION=1.85.0+dfsg3-1~deb12u3
CABA_BINDGEN_VERSION=0.69.5
CABA_VNG_VERSION=1.42

CABA_SRC=$CABA_CACHE/linux            # git working copy: pristine base + series branch
CABA_LOGS=$CABA_CACHE/logs
CABA_CARGO_ROOT=$CABA_CACHE/cargo     # where bindgen-cli is installed

# The toolchain the kernel is built with. The rustup rustc first on PATH has no
# rust-src, so everything Rust is named explicitly.
CABA_MAKE_VARS=(
	LLVM=1
	RUSTC=/usr/bin/rustc
	RUSTDOC=/usr/bin/rustdoc
	HOSTRUSTC=/usr/bin/rustc
	BINDGEN="$CABA_CARGO_ROOT/bin/bindgen"
)

export PATH="$CABA_CARGO_ROOT/bin:$PATH"
# vng is installed by pip; pyenv's shims are not on a non-login shell's PATH.
for _d in /root/.pyenv/shims "$HOME/.local/bin" "$HOME/.cargo/bin"; do
	[ -d "$_d" ] && PATH="$PATH:$_d"
done
unset _d

log()  { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die()  { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# need CMD HINT: fail with HINT when CMD is not on PATH.
need() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found; $2"
}

# The build directory for a profile ("vm", "debug", ...) and a variant ("caba" or
# "baseline"). One out-of-tree build per pair keeps every rebuild incremental.
build_dir() {
	printf '%s/build-%s-%s\n' "$CABA_CACHE" "$1" "$2"
}

kmake() {
	make -j"$(nproc)" "${CABA_MAKE_VARS[@]}" "$@"
}

# now: seconds since the epoch, for stage timings.
now() { date +%s; }

# --ignore flags for the checkpatch message types that series/checkpatch-ignore
# accepts (each justified there and in the cover letter).
checkpatch_ignores() {
	local types
	types=$(grep -v '^#' "$CABA_REPO/series/checkpatch-ignore" | paste -sd, -)
	[ -z "$types" ] || echo "--ignore $types"
}

# checkpatch_patch PATCH: checkpatch --strict in the kernel tree, quiet, with
# the accepted exceptions. Debian's python3 first: spdxcheck.py needs ply.
checkpatch_patch() {
	# shellcheck disable=SC2046 # the ignore flags are words on purpose
	(cd "$CABA_SRC" && PATH=/usr/bin:$PATH ./scripts/checkpatch.pl --strict --quiet $(checkpatch_ignores) "$1")
}
