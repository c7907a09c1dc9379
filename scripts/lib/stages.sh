# shellcheck shell=bash
# Stages for scripts/run: one progress line each, a log per stage in
# $CABA_LOGS, and a summary table at the end. Sourced after common.sh.
#
# A stage may append "PASS name" / "FAIL name" / "SKIP name" lines to
# $CABA_RESULTS for each check it ran; a stage that appends none counts as
# one check itself, and a stage that fails always counts one failure.

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
	if "$@" >"$log" 2>&1; then status=ok; else status=FAILED; fi
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
summary() {
	local pass fail skip
	echo
	printf '%-24s %-7s %7s  %s\n' STAGE RESULT TIME CHECKS
	printf '%s\n' "${STAGE_ROWS[@]}"
	printf 'total %d s; logs in %s\n' "$(($(now) - RUN_START))" "$CABA_LOGS"
	grep '^FAIL' "$CABA_RESULTS" | sed 's/^/  /' || true
	pass=$(grep -c '^PASS' "$CABA_RESULTS" || true)
	fail=$(grep -c '^FAIL' "$CABA_RESULTS" || true)
	skip=$(grep -c '^SKIP' "$CABA_RESULTS" || true)
	echo
	if [ "$skip" -gt 0 ]; then
		echo "$pass passed, $fail failed, $skip skipped"
	else
		echo "$pass passed, $fail failed"
	fi
	[ "$fail" = 0 ]
}
