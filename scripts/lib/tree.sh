# shellcheck shell=bash
# The kernel working copies in $CABA_KCACHE, made from the pinned
# linux-source .deb (scripts/setup fetches it) and the series in patches/.
# Sourced after common.sh.
#
#   $CABA_SRC              git repo; tag "base" = the pristine tarball, branch
#                          "caba" = base + b4's cover letter commit
#                          (series/cover-letter.txt) + git am of patches/:
#                          a b4 prep branch, where the series is edited
#   $CABA_KCACHE/src-base  worktree of "base", for --baseline builds
#
# The series is applied to branch caba again only when patches/ changed; git
# reset and git am rewrite just the files the patches touch, so the builds
# stay incremental. series_am_check applies it to a throwaway worktree on
# every run, whatever the stamp says.

CABA_BASE_TREE=$CABA_KCACHE/src-base
CABA_SERIES_STAMP=$CABA_SRC/.git/caba-applied   # "<hash of patches/> <commit>"
# The identity every commit of the tree is made with (the series' From:).
CABA_GIT_NAME="CABA developers" CABA_GIT_EMAIL=caba@example.org

# core.warnAmbiguousRefs=false: "caba" is also a valid abbreviated object
# name, which makes git warn on every use of the branch name.
git_k() {
	git -C "$CABA_SRC" -c user.name="$CABA_GIT_NAME" -c user.email="$CABA_GIT_EMAIL" \
		-c core.warnAmbiguousRefs=false "$@"
}

series_hash() {
	cat "$CABA_REPO"/patches/*.patch "$CABA_REPO/series/cover-letter.txt" 2>/dev/null | sha256sum | cut -c1-16
}

# series_patches [DIR]: the patches of DIR (patches/) in order, without the
# cover letter (recognised by its "[PATCH ... 0/N]" subject, whatever the
# file is called).
series_patches() {
	local p
	for p in "${1:-$CABA_REPO/patches}"/*.patch; do
		[ -e "$p" ] || continue
		grep -qE '^Subject: \[[^]]* 0+/[0-9]+\]' "$p" && continue
		printf '%s\n' "$p"
	done
}

# base_date: the tarball's modification time in the .deb (UTC).
base_date() {
	dpkg-deb --fsys-tarfile "$CABA_LINUX_DEB" | TZ=UTC tar -tv --full-time "./usr/src/$CABA_LINUX_TARBALL_NAME" |
		awk '{print $4 "T" $5}'
}

# tree_init: unpack the pinned tarball and commit it as "base" (once).
tree_init() {
	git_k rev-parse -q --verify refs/tags/base >/dev/null 2>&1 && return 0
	[ -s "$CABA_LINUX_DEB" ] || die "$CABA_LINUX_DEB missing; run scripts/setup"
	log "unpacking $CABA_LINUX_TARBALL_NAME from ${CABA_LINUX_DEB##*/} into $CABA_SRC (about 1 min)"
	rm -rf "$CABA_SRC" "$CABA_SRC.tmp"
	mkdir -p "$CABA_SRC.tmp"
	dpkg-deb --fsys-tarfile "$CABA_LINUX_DEB" | tar -xO "./usr/src/$CABA_LINUX_TARBALL_NAME" |
		tar -xJ -C "$CABA_SRC.tmp" --strip-components=1 ||
		die "unpacking $CABA_LINUX_DEB failed (no usr/src/$CABA_LINUX_TARBALL_NAME in it?)"
	local version
	version=$(make -s -C "$CABA_SRC.tmp" kernelversion)
	[ "$version" = "$CABA_LINUX_VERSION" ] ||
		die "${CABA_LINUX_DEB##*/} holds Linux $version, not the pinned $CABA_LINUX_VERSION; fix CABA_LINUX_VERSION in scripts/lib/common.sh"
	git -C "$CABA_SRC.tmp" init -q -b caba
	# Debian's .gitignore ends with "/*" (it ignores the whole top level), so force
	# the add: everything in the pristine tarball is source.
	git -C "$CABA_SRC.tmp" add -f -A
	# The same tarball gives the same base commit on every machine (fixed
	# author, message and date: the tarball's), so base-commit: lines and
	# b4's base tracking mean the same thing everywhere.
	GIT_AUTHOR_DATE="$(base_date) +0000" GIT_COMMITTER_DATE="$(base_date) +0000" \
		git -C "$CABA_SRC.tmp" -c user.name="$CABA_GIT_NAME" -c user.email="$CABA_GIT_EMAIL" \
		commit -q -m "Linux $version from Debian's $CABA_LINUX_PKG $CABA_LINUX_PKG_VERSION"
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

# am_series DIR: git am every patch of the series onto DIR's HEAD; on failure
# name the patch and its files, abort the am and fail.
am_series() {
	local dir=$1 patch files
	for patch in $(series_patches); do
		if ! git -C "$dir" -c user.name="$CABA_GIT_NAME" -c user.email="$CABA_GIT_EMAIL" \
			am -q --whitespace=nowarn "$patch" >"$CABA_LOGS/git-am.log" 2>&1; then
			files=$(git -C "$dir" am --show-current-patch=diff 2>/dev/null | sed -n 's|^diff --git a/\([^ ]*\) .*|\1|p' | tr '\n' ' ')
			sed 's/^/  /' "$CABA_LOGS/git-am.log" >&2
			git -C "$dir" am --abort >/dev/null 2>&1 || true
			echo "git am failed on ${patch#"$CABA_REPO"/} (files: $files)" >&2
			return 1
		fi
	done
}

# tree_series: make branch "caba" = base + patches/, unless it already is.
# Refuses to throw away commits that were made in the tree but not exported.
tree_series() {
	tree_init
	local want have_hash have_commit head
	want=$(series_hash)
	read -r have_hash have_commit 2>/dev/null <"$CABA_SERIES_STAMP" || true
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
	log "applying the series: $(series_patches | wc -l) patch(es) with git am"
	git_k am --abort >/dev/null 2>&1 || true
	git_k reset -q --hard base
	# b4's cover letter commit first: the branch is a b4 prep branch.
	git_k commit -q --allow-empty -F "$CABA_REPO/series/cover-letter.txt"
	am_series "$CABA_SRC" || die "the tree is back at base"
	echo "$want $(git_k rev-parse HEAD)" >"$CABA_SERIES_STAMP"
	echo "$CABA_SRC"
}

# series_am_check: git am the series onto a throwaway worktree of base, as a
# maintainer would, whatever the stamp of branch caba says.
series_am_check() {
	tree_init
	local wt=$CABA_KCACHE/am-check rc=0
	git_k worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"
	git_k worktree prune
	# Only the files the patches touch are checked out (a sparse worktree):
	# git am needs nothing else, and a full 7.2 checkout takes minutes.
	git_k worktree add -q --no-checkout --detach "$wt" base
	git -C "$wt" sparse-checkout set --no-cone $(cat $(series_patches) |
		sed -n 's|^diff --git a/\([^ ]*\) b/.*|/\1|p' | sort -u)
	git -C "$wt" checkout -q --detach base
	am_series "$wt" || rc=1
	[ "$rc" != 0 ] || log "the series applies with git am to a fresh worktree of base: $(series_patches | wc -l) patches, $(git -C "$wt" diff --shortstat base HEAD)"
	git_k worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"
	return $rc
}
