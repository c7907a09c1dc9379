# shellcheck shell=bash
# Stages for scripts/run: one progress line each, a log per stage in
# $CABA_LOGS, and a summary table at the end. Sourced after common.sh.
#
# A stage may append "PASS name" / "FAIL name" / "SKIP name" lines to
# $CABA_RESULTS for each check it ran; a stage that appends none counts as
# one check itself, and a stage that fails always counts one failure.
# A stage runs in a subshell, so a die() inside it (or any exit) ends only
# that stage, which is then counted as failed; the run goes on to the
# summary. Should the runner itself die, its EXIT trap still prints the
# summary and the closing count line.

CABA_RESULTS=$CABA_LOGS/results
export CABA_RESULTS
STAGE_ROWS=()
RUN_START=$(now)
mkdir -p "$CABA_LOGS"
: >"$CABA_RESULTS"

# stage NAME CMD...: run CMD, output to $CABA_LOGS/stage-NAME.log.
stage() {
	local name=$1 log=$CABA_LOGS/stage-$1.log t0 before after status secs
	shift
	t0=$(now)
	before=$(wc -l <"$CABA_RESULTS")
	printf '[%4ds] %-24s ... ' "$((t0 - RUN_START))" "$name" >&2
	if ("$@") >"$log" 2>&1; then status=ok; else status=FAILED; fi
	secs=$(($(now) - t0))
	after=$(wc -l <"$CABA_RESULTS")
	if [ "$after" = "$before" ]; then
		[ "$status" = ok ] && echo "PASS stage-$name" >>"$CABA_RESULTS" || echo "FAIL stage-$name" >>"$CABA_RESULTS"
	elif [ "$status" != ok ] && ! tail -n +"$((before + 1))" "$CABA_RESULTS" | grep -q '^FAIL'; then
		echo "FAIL stage-$name" >>"$CABA_RESULTS"
	fi
	local counts
	counts=$(tail -n +"$((before + 1))" "$CABA_RESULTS" | awk '{n[$1]++} END {printf "%d passed, %d failed", n["PASS"], n["FAIL"]; if (n["SKIP"]) printf ", %d skipped", n["SKIP"]}')
	printf '%s in %d s (%s)\n' "$status" "$secs" "$counts" >&2
	if [ "$status" != ok ]; then
		echo "---- last 25 lines of $log" >&2
		tail -n 25 "$log" >&2
	fi
	STAGE_ROWS+=("$(printf '%-24s %-7s %6ss  %s' "$name" "$status" "$secs" "$counts")")
	[ "$status" = ok ]
}

# summary: the table, then the closing count line; returns 1 on any failure.
# A SKIP counts as neither; callers that must not skip record FAIL instead.
summary() {
	local pass fail skip
	SUMMARY_DONE=1
	echo
	printf '%-24s %-7s %7s  %s\n' STAGE RESULT TIME CHECKS
	printf '%s\n' "${STAGE_ROWS[@]}"
	printf 'total %d s; logs in %s\n' "$(($(now) - RUN_START))" "$CABA_LOGS"
	grep '^FAIL' "$CABA_RESULTS" | sed 's/^/  /' || true
	pass=$(grep -c '^PASS' "$CABA_RESULTS" || true)
	fail=$(grep -c '^FAIL' "$CABA_RESULTS" || true)
	skip=$(grep -c '^SKIP' "$CABA_RESULTS" || true)
	echo
	[ "$skip" = 0 ] || echo "($skip skipped, counted in neither; see the SKIP lines in $CABA_RESULTS)"
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
}

# suite_verdicts EXPECTED RESULTS: one PASS/FAIL line per expected check.
suite_verdicts() {
	local expected=$1 results=$2 rc=0 name line
	touch "$results"
	while read -r name; do
		line=$(grep -E "^(PASS|FAIL|SKIP) $name( |\$)" "$results" | tail -n1 || true)
		case "$line" in
		PASS*) echo "PASS $name" ;;
		FAIL*) echo "FAIL $name"; rc=1 ;;
		SKIP*) echo "FAIL $name (skipped on the patched kernel)"; rc=1 ;;
		*) echo "FAIL $name (announced, never reported: killed, crashed or hung)"; rc=1 ;;
		esac
	done <"$expected"
	# Results nobody announced are a bug in the suite itself.
	while read -r _ name _; do
		grep -qx "$name" "$expected" || { echo "FAIL $name (reported but never announced)"; rc=1; }
	done <"$results"
	return $rc
}

# If the runner dies between stages (a bug, a signal), still end with the
# table and an honest closing line.
SUMMARY_DONE=0
summary_on_exit() {
	local rc=$?
	if [ "$SUMMARY_DONE" = 0 ]; then
		echo "FAIL runner (exited with status $rc before its summary)" >>"$CABA_RESULTS"
		summary || true
		exit 1
	fi
}
trap summary_on_exit EXIT
