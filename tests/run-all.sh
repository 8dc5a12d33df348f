#!/bin/sh
# `make check`: every suite on the normal build, then again on an ASan+UBSan build.
# Each suite ends with a line "NAME: N passed, M failed"; this script adds them up and ends with
# one line "N passed, M failed", exiting non-zero when anything failed (or did not build).
set -u
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
extra_failures=0

suite() {  # suite LABEL COMMAND...: run, echo its output, keep its summary line
    label=$1; shift
    echo "=== $label"
    out=$(mktemp)
    "$@" >"$out" 2>&1
    status=$?
    cat "$out"
    summary=$(grep -E '^[A-Za-z0-9 _-]+: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [ -n "$summary" ]; then
        echo "$label ${summary#*: }" | sed 's/^/RESULT /' >>"$log"
        [ "$status" -ne 0 ] && ! echo "$summary" | grep -qE ', [1-9][0-9]* failed$' && extra_failures=$((extra_failures + 1))
    else
        echo "$label: no summary (exit $status); counted as 1 failed"
        extra_failures=$((extra_failures + 1))
    fi
    rm -f "$out"
}

build() {  # build LABEL MAKE-ARGS...: a failed build is a failed test
    label=$1; shift
    echo "=== build: $label"
    if ! make -s "$@"; then
        echo "build $label failed"
        extra_failures=$((extra_failures + 1))
        return 1
    fi
}

suite "layout" tests/layout/run.sh
if build normal all build/unit-tests; then
    suite "unit" tests/unit/run.sh build/unit-tests
    suite "milter" env ROUTE_MILTER="$PWD/build/route-milter" tests/milter/run.sh
    suite "integration" env ROUTE_MILTER="$PWD/build/route-milter" ROUTECTL="$PWD/build/routectl" tests/integration/run.sh
    suite "package" tests/package/run.sh
    suite "sendmail" env ROUTE_MILTER="$PWD/build/route-milter" ROUTECTL="$PWD/build/routectl" tests/sendmail/run.sh
fi
if build asan+ubsan BUILD=build/asan SANITIZE=1 build/asan/route-milter build/asan/routectl build/asan/unit-tests; then
    export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # An ASan report ends the unit suite there: were Boost.Test to catch its abort and go on, the
    # leak check at exit would die a second time, which ASan answers by spinning for ever.
    export BOOST_TEST_CATCH_SYSTEM_ERRORS=no
    suite "unit (asan+ubsan)" tests/unit/run.sh build/asan/unit-tests
    suite "milter (asan+ubsan)" env ROUTE_MILTER="$PWD/build/asan/route-milter" tests/milter/run.sh
    suite "integration (asan+ubsan)" env ROUTE_MILTER="$PWD/build/asan/route-milter" \
        ROUTECTL="$PWD/build/asan/routectl" tests/integration/run.sh
fi

# A short run of every libFuzzer target on its seed corpus (make fuzz runs them longer).
suite "fuzz smoke" env FUZZ_SECONDS=10 tests/fuzz/run.sh

echo "=== summary"
sed -n 's/^RESULT //p' "$log"
passed=$(sed -n 's/^RESULT .* \([0-9][0-9]*\) passed, [0-9]* failed$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(sed -n 's/^RESULT .* \([0-9][0-9]*\) failed$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
failed=$((failed + extra_failures))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
