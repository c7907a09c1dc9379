#!/bin/bash
# Incremental build of the mutated copy, at the lead's paths, in a private mount namespace.
set -e
S=/root/.cache/caba/7.2.13/src B=/root/.cache/caba/7.2.13/build-vm-caba
mount --bind /tmp/ct/msrc "$S"
mount --bind /tmp/ct/mbuild "$B"
export LIBCLANG_PATH=/usr/lib/llvm-19/lib PATH=/root/.cache/caba/cargo/bin:$PATH
nice -n 10 make -j2 -C "$S" O="$B" LLVM=-19 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
	HOSTRUSTC=/usr/bin/rustc BINDGEN=/root/.cache/caba/cargo/bin/bindgen all
