# shellcheck shell=bash
# The kernel working copies in $CABA_CACHE, made from the pinned linux-source
# tarball and the series in patches/. Sourced after common.sh.
#
#   $CABA_SRC            git repo; tag "base" = pristine tarball, branch "caba" =
#                        base + git am patches/*.patch (the working copy of the series)
#   $CABA_CACHE/src-base worktree of "base", for --baseline builds
#
# The series is applied again only when patches/ changed; git reset and git am
# rewrite just the files the patches touch, so the builds stay incremental.

CABA_BASE_TREE=$CABA_CACHE/src-base
CABA_SERIES_STAMP=$CABA_SRC/.git/caba-applied   # "<hash of patches/> <commit>"

git_k() { git -C "$CABA_SRC" -c user.name="CABA developers" -c user.email=caba@example.org "$@"; }

series_hash() {
	cat "$CABA_REPO"/patches/*.patch 2>/dev/null | sha256sum | cut -c1-16
}

# tree_init: unpack the tarball and commit it as "base" (once).
tree_init() {
	git_k rev-parse -q --verify refs/tags/base >/dev/null 2>&1 && return 0
	[ -f "$CABA_LINUX_TARBALL" ] || die "$CABA_LINUX_TARBALL missing; run scripts/setup"
	log "unpacking $CABA_LINUX_TARBALL into $CABA_SRC (about 30 s)"
	rm -rf "$CABA_SRC" "$CABA_SRC.tmp"
	mkdir -p "$CABA_SRC.tmp"
	tar -xf "$CABA_LINUX_TARBALL" -C "$CABA_SRC.tmp" --strip-components=1
	git -C "$CABA_SRC.tmp" init -q -b caba
	# Debian's .gitignore ends with "/*" (it ignores the whole top level), so force
	# the add: everything in the pristine tarball is source.
	git -C "$CABA_SRC.tmp" add -f -A
	git -C "$CABA_SRC.tmp" -c user.name="CABA developers" -c user.email=caba@example.org \
		commit -q -m "Linux $(make -s -C "$CABA_SRC.tmp" kernelversion) from Debian's $CABA_LINUX_PKG"
	git -C "$CABA_SRC.tmp" tag base
	mv "$CABA_SRC.tmp" "$CABA_SRC"
}

# tree_baseline: path of a checkout of the pristine base.
tree_baseline() {
	tree_init
	if [ ! -d "$CABA_BASE_TREE" ]; then
		git_k worktree prune
		git_k worktree add -q --detach "$CABA_BASE_TREE" base
	fi
	echo "$CABA_BASE_TREE"
}

# tree_series: make branch "caba" = base + patches/, unless it already is.
# Refuses to throw away commits that were made in the tree but not exported.
tree_series() {
	tree_init
	local want have_hash have_commit head patch
	want=$(series_hash)
	read -r have_hash have_commit <"$CABA_SERIES_STAMP" 2>/dev/null || true
	head=$(git_k rev-parse HEAD)
	[ "$(git_k symbolic-ref -q --short HEAD)" = caba ] ||
		die "$CABA_SRC is not on branch caba; check it out (git -C $CABA_SRC checkout caba)"
	if [ "$want" = "${have_hash:-}" ] && [ "$head" = "${have_commit:-}" ] &&
		git_k diff --quiet HEAD; then
		echo "$CABA_SRC"
		return 0
	fi
	if [ "$head" != "$(git_k rev-parse base)" ] && [ "$head" != "${have_commit:-}" ] &&
		[ "${CABA_FORCE_RESET:-0}" != 1 ]; then
		die "branch caba in $CABA_SRC has commits that are not from patches/ (export them with scripts/series export, or set CABA_FORCE_RESET=1 to discard them)"
	fi
	git_k diff --quiet HEAD || [ "${CABA_FORCE_RESET:-0}" = 1 ] ||
		die "$CABA_SRC has uncommitted changes; commit and export them, or set CABA_FORCE_RESET=1"
	log "applying the series: $(ls "$CABA_REPO"/patches/*.patch 2>/dev/null | grep -vc 0000-cover) patch(es) with git am"
	git_k am --abort >/dev/null 2>&1 || true
	git_k reset -q --hard base
	for patch in "$CABA_REPO"/patches/*.patch; do
		[ -e "$patch" ] || continue
		case "$patch" in */0000-cover-letter.patch) continue ;; esac
		if ! git_k am -q --whitespace=nowarn "$patch" >"$CABA_LOGS/git-am.log" 2>&1; then
			local files
			files=$(git_k am --show-current-patch=diff 2>/dev/null | sed -n 's|^diff --git a/\([^ ]*\) .*|\1|p' | tr '\n' ' ')
			sed 's/^/  /' "$CABA_LOGS/git-am.log" >&2
			git_k am --abort >/dev/null 2>&1 || true
			die "git am failed on ${patch#"$CABA_REPO"/} (files: $files); the tree is back at base"
		fi
	done
	echo "$want $(git_k rev-parse HEAD)" >"$CABA_SERIES_STAMP"
	echo "$CABA_SRC"
}
