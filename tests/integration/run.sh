#!/bin/sh
# Run the real-Postfix integration tests for route-milter and routectl (needs root, postfix,
# sasl2-bin, libsasl2-modules).  Usage:
#   ROUTE_MILTER=build/route-milter ROUTECTL=build/routectl tests/integration/run.sh [TestClass[.test_name] ...]
# Test names are looked up in test_postfix.py and test_routectl.py; without names both run.
# Last line of output: "integration: N passed, M failed" (both files together); exit status
# non-zero on any failure.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${ROUTE_MILTER:=$root/build/route-milter}"
case $ROUTE_MILTER in /*) ;; *) ROUTE_MILTER=$(pwd)/$ROUTE_MILTER ;; esac
export ROUTE_MILTER
: "${ROUTECTL:=$root/build/routectl}"
case $ROUTECTL in /*) ;; *) ROUTECTL=$(pwd)/$ROUTECTL ;; esac
export ROUTECTL

if [ ! -x "$ROUTE_MILTER" ] || [ -d "$ROUTE_MILTER" ]; then
    echo "run.sh: route-milter binary not found or not executable: $ROUTE_MILTER" >&2
    echo "run.sh: build it (make) or set ROUTE_MILTER=/path/to/route-milter" >&2
    echo "integration: 0 passed, 1 failed"
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: must run as root (a private Postfix master is started)" >&2
    echo "integration: 0 passed, 1 failed"
    exit 1
fi

# Which file each named test belongs to (by its class name).
postfix_args=""
routectl_args=""
for name in "$@"; do
    class=${name%%.*}
    if grep -q "^class $class(" "$here/test_routectl.py"; then
        routectl_args="$routectl_args $name"
    else
        postfix_args="$postfix_args $name"
    fi
done
run_postfix=yes
run_routectl=yes
if [ $# -gt 0 ]; then
    [ -n "$postfix_args" ] || run_postfix=no
    [ -n "$routectl_args" ] || run_routectl=no
fi

passed=0
failed=0
status=0
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT

# run_file FILE ARGS...: the file's unittest output goes to stderr as it runs; its stdout
# (the "LABEL: N passed, M failed" line) is captured and added up.
run_file() {
    file=$1; shift
    PYTHONDONTWRITEBYTECODE=1 timeout -k 10 300 /usr/bin/python3 "$here/$file" "$@" >"$summary"
    rc=$?
    grep -vE '^[A-Za-z0-9 _-]+: [0-9]+ passed, [0-9]+ failed$' "$summary"
    line=$(grep -E '^[A-Za-z0-9 _-]+: [0-9]+ passed, [0-9]+ failed$' "$summary" | tail -n 1)
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/')
        f=$(echo "$line" | sed 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/')
        passed=$((passed + p))
        failed=$((failed + f))
        echo "run.sh: $file: $p passed, $f failed" >&2
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && failed=$((failed + 1))
    else
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
            echo "run.sh: $file: test run timed out" >&2
        else
            echo "run.sh: $file: no summary (exit $rc)" >&2
        fi
        failed=$((failed + 1))
    fi
    [ "$rc" -eq 0 ] || status=1
}

if [ $run_postfix = yes ]; then
    # shellcheck disable=SC2086
    run_file test_postfix.py $postfix_args
fi
if [ $run_routectl = yes ]; then
    # shellcheck disable=SC2086
    run_file test_routectl.py $routectl_args
fi

echo "integration: $passed passed, $failed failed"
[ $status -eq 0 ] && [ $failed -eq 0 ] || exit 1
exit 0
