#!/bin/sh
# `make check-tsan`: the unit, milter and integration suites on a ThreadSanitizer build (build/tsan).
# Ends with one line "N passed, M failed" like make check.
set -u
cd "$(dirname "$0")/.."
if ! make -s BUILD=build/tsan SANITIZE=thread build/tsan/route-milter build/tsan/routectl build/tsan/unit-tests; then
    echo "tsan build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
status=0
out=$(mktemp)
tests/unit/run.sh build/tsan/unit-tests | tee "$out" || status=1
ROUTE_MILTER="$PWD/build/tsan/route-milter" tests/milter/run.sh | tee -a "$out" || status=1
ROUTE_MILTER="$PWD/build/tsan/route-milter" ROUTECTL="$PWD/build/tsan/routectl" tests/integration/run.sh | tee -a "$out" || status=1
passed=$(sed -n 's/^[a-z]*: \([0-9]*\) passed, [0-9]* failed$/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
failed=$(sed -n 's/^[a-z]*: [0-9]* passed, \([0-9]*\) failed$/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
rm -f "$out"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
