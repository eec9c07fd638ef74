#!/usr/bin/env bash
# Steps keep their length when the host's wall clock steps (issue 16, docs/operations.md
# "Time"): the daemon's wall clock is stepped by +1 h, then by -1 h (through
# $CANARYD_TEST_CLOCK_STEP_FILE: CLOCK_REALTIME plus the seconds it holds; libfaketime would
# also move the daemon's CLOCK_BOOTTIME timers), during steps of 12 s; each step still ends one
# interval after it began in real time (not at once, not an hour later), its analysis still
# finds data, and the log says the clock stepped.
. "$(dirname "$0")/lib.sh"

E2E_INTERVAL=12s e2e_setup
echo 0 >"$E2E/clock-step"
export CANARYD_TEST_CLOCK_STEP_FILE=$E2E/clock-step
e2e_start_daemon
unset CANARYD_TEST_CLOCK_STEP_FILE

state_of() { vs_json shop checkout | json_get "d.get('object', d)['metadata']['annotations']['canaryd.io/state']"; }
step_of() { state_of | json_get "d['step']" 2>/dev/null || echo 0; }
started_of() { # the step's start as stored, in epoch seconds
	state_of | json_get "__import__('datetime').datetime.fromisoformat(d['step_started_at'].replace('Z', '+00:00')).timestamp()"
}
wait_step() {
	for _ in $(seq 150); do
		[ "$(step_of)" -ge "$1" ] && return 0
		sleep 0.2
	done
	fail "step $1 not reached in 30 s"
}
# a step lasts its interval (12 s) plus the analysis: not cut short, not an hour longer
check_length() { # WHAT FROM TO
	python3 -c "import sys; sys.exit(0 if 11.5 <= $3 - $2 <= 25 else 1)" ||
		fail "$1 lasted $(python3 -c "print(round($3 - $2, 1))") s by the daemon's clock (interval 12 s)"
}

ctl start checkout --revision v8 || fail "start"
s1=$(started_of)
sleep 3
step_clock() { echo "$1" >"$E2E/clock-step.new" && mv "$E2E/clock-step.new" "$E2E/clock-step"; }
step_clock 3600 # the host's clock jumps an hour ahead
wait_step 2
s2=$(started_of)
check_length "with the clock an hour ahead, step 1" "$s1" "$s2"
grep -q "the wall clock stepped by +3600 s" "$E2E/canaryd.log" || fail "the jump was not logged"
pass "a +1 h step of the wall clock: step 1 still lasted $(python3 -c "print(round($s2 - $s1, 1))") s, its analysis found data"

sleep 3
step_clock -3600 # and an hour behind
wait_step 3
s3=$(started_of)
check_length "with the clock an hour behind, step 2" "$s2" "$s3"
grep -q "the wall clock stepped by -3600 s" "$E2E/canaryd.log" || fail "the jump back was not logged"
pass "a -1 h step: step 2 still lasted $(python3 -c "print(round($s3 - $s2, 1))") s"
e2e_stop_daemon
