# shellcheck shell=bash
# Debian package helpers for scripts/setup. Sourced after common.sh; kept
# apart so scripts/check-setup can test them against a stub dpkg-query.

# apt_missing PKG[=VERSION]...: print, one a line, every spec whose package
# is not installed (at VERSION, when one is given). A package dpkg has never
# heard of is missing too: dpkg-query then prints nothing and fails, which
# must neither end the caller (set -e) nor be read as "installed".
apt_missing() {
	local spec name want out status version
	for spec in "$@"; do
		name=${spec%%=*}
		want=${spec#"$name"}
		want=${want#=}
		out=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$name" 2>/dev/null) || out=
		status=${out%% *}
		version=${out#* }
		if [ "$status" != installed ] || { [ -n "$want" ] && [ "$version" != "$want" ]; }; then
			printf '%s\n' "$spec"
		fi
	done
	return 0
}

# apt_hold_pinned PKG=VERSION...: hold each package that is installed at
# exactly its pinned version, so that apt upgrade cannot move it; never
# hold one that is not (a hold on a missing or wrong version would make
# every later install of the pin fail).
apt_hold_pinned() {
	local spec
	for spec in "$@"; do
		if [ -z "$(apt_missing "$spec")" ]; then
			apt-mark hold "${spec%%=*}" >/dev/null
		fi
	done
}
