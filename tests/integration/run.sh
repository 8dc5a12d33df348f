#!/bin/sh
# Run the real-Postfix integration tests for route-milter and routectl (needs root, postfix,
# sasl2-bin, libsasl2-modules).  Usage:
#   ROUTE_MILTER=build/route-milter ROUTECTL=build/routectl tests/integration/run.sh [TestClass[.test_name] ...]
# Test names are looked up in test_postfix.py, test_routectl.py, test_faults.py, test_route_delivery.py
# and test_hmailserver.py; without names all run. Last line of output: "integration: N passed, M failed" (all files); exit status
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

# Which file each named test belongs to (by its class name); without names, every file.
files="test_postfix.py test_routectl.py test_faults.py test_route_delivery.py test_hmailserver.py test_apply.py"
file_args() {  # file_args FILE NAMES...: the names whose class FILE defines
    file=$1; shift
    for name in "$@"; do
        grep -q "^class ${name%%.*}(" "$here/$file" && printf ' %s' "$name"
    done
}
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

for file in $files; do
    args=$(file_args "$file" "$@")
    [ $# -gt 0 ] && [ -z "$args" ] && continue
    # shellcheck disable=SC2086
    run_file "$file" $args
done

echo "integration: $passed passed, $failed failed"
[ $status -eq 0 ] && [ $failed -eq 0 ] || exit 1
exit 0
