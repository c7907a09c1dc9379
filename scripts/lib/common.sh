# shellcheck shell=bash
# Common paths, toolchain variables and logging for the CABA workbench scripts.
# Sourced, never run.

set -euo pipefail

CABA_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CABA_CACHE=${CABA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caba}

# Pinned inputs. Change them here and nowhere else (the README says how to
# move the kernel base).
#
# The kernel: Debian's linux-source package of the newest kernel reachable
# from here, taken from unstable ("sid") as a .deb with a private apt
# configuration (nothing from unstable is installed) and kept in the cache.
CABA_LINUX_VERSION=7.2.13                 # what `make kernelversion` says
CABA_LINUX_PKG=linux-source-7.2
CABA_LINUX_PKG_VERSION=7.2.13-1
CABA_LINUX_SUITE=sid
CABA_LINUX_TARBALL_NAME=linux-source-7.2.tar.xz   # inside the .deb, under usr/src/
# The toolchain: 7.2's scripts/min-tool-version.sh wants rustc 1.85.0,
# bindgen 0.71.1 and LLVM 17.0.1.
CABA_RUST_VERSION=1.85.0+dfsg3-1~deb12u3  # Debian 12's rustc-web, /usr/bin/rustc
CABA_LLVM=19                              # Debian 12's clang-19/lld-19/llvm-19
CABA_BINDGEN_VERSION=0.71.1               # bindgen-cli from crates.io
CABA_VNG_VERSION=1.42                     # virtme-ng from PyPI
CABA_B4_VERSION=0.16.0                    # b4 from PyPI
# sparse: 7.2 needs one that knows __typeof_unqual__ (scripts/checker-valid.sh);
# Debian 12's 0.6.4 does not, and unstable's binary needs a newer glibc, so
# it is built from unstable's source tarball, fetched from Debian's pool.
CABA_SPARSE_TARBALL=sparse_0.6.5~rc1.orig.tar.gz
CABA_SPARSE_SHA256=3ac8855ec7f3ab92f325be0f64347ccc2b10f8b4d7c2906783ee8e2bdab3f0de

# CRIU (scripts/criu): Debian unstable's criu source package, of which only the
# .dsc and the upstream (orig) tarball are used; the Debian tarball is not needed
# (we build upstream CRIU as Debian ships it, with criu/*.patch on top).
CABA_CRIU_PKG_VERSION=4.2.1-1
CABA_CRIU_ORIG=criu_4.2.1.orig.tar.xz
CABA_CRIU_ORIG_SHA256=29ec0ee09e296479fe7048c80980e8ef1d0684d0b0204c2b101dfea19f6725b9

CABA_LOGS=$CABA_CACHE/logs
CABA_CARGO_ROOT=$CABA_CACHE/cargo     # where bindgen-cli is installed
CABA_DEBS=$CABA_CACHE/debs            # the downloaded linux-source .deb
CABA_SPARSE=$CABA_CACHE/sparse/bin/sparse   # built by scripts/setup
CABA_LINUX_DEB=$CABA_DEBS/${CABA_LINUX_PKG}_${CABA_LINUX_PKG_VERSION}_all.deb
# Everything made from one kernel base lives under one directory, so moving
# the base never mixes trees or builds of two versions.
CABA_KCACHE=$CABA_CACHE/$CABA_LINUX_VERSION
CABA_SRC=$CABA_KCACHE/src             # git working copy: pristine base + series branch

# The toolchain the kernel is built with. The rustup rustc first on PATH has no
# rust-src, so everything Rust is named explicitly; bindgen must load the
# libclang of the LLVM the kernel is built with.
CABA_MAKE_VARS=(
	LLVM=-$CABA_LLVM
	RUSTC=/usr/bin/rustc
	RUSTDOC=/usr/bin/rustdoc
	HOSTRUSTC=/usr/bin/rustc
	BINDGEN="$CABA_CARGO_ROOT/bin/bindgen"
)
export LIBCLANG_PATH=/usr/lib/llvm-$CABA_LLVM/lib

export PATH="$CABA_CARGO_ROOT/bin:$PATH"
# vng is installed by pip; pyenv's shims are not on a non-login shell's PATH.
for _d in "$HOME/.pyenv/shims" /root/.pyenv/shims "$HOME/.local/bin" "$HOME/.cargo/bin"; do
	[ -d "$_d" ] && PATH="$PATH:$_d"
done
unset _d

log()  { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
# die: print and exit 1. Inside a scripts/run stage this ends only the stage
# (stages run in a subshell), which is then counted as failed.
die()  { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# need CMD HINT: fail with HINT when CMD is not on PATH.
need() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found; $2"
}

# The build directory for a profile ("vm", "debug", ...) and a variant ("caba" or
# "baseline"). One out-of-tree build per pair keeps every rebuild incremental.
build_dir() {
	printf '%s/build-%s-%s\n' "$CABA_KCACHE" "$1" "$2"
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

# debian_mirror: the Debian mirror this machine's apt already uses.
debian_mirror() {
	local uri
	uri=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
		grep -E '^(URIs:|deb )' | grep -oE 'https?://[^ ]*/debian/?' | grep -v security | head -n1 || true)
	echo "${uri:-http://deb.debian.org/debian}"
}
