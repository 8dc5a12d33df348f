#!/bin/sh
# Run the real-Postfix integration tests for route-milter (needs root, postfix,
# sasl2-bin, libsasl2-modules).  Usage:
#   ROUTE_MILTER=build/route-milter tests/integration/run.sh [TestClass[.test_name] ...]
# Last line of output: "integration: N passed, M failed"; exit status non-zero on any failure.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${ROUTE_MILTER:=$root/build/route-milter}"
case $ROUTE_MILTER in /*) ;; *) ROUTE_MILTER=$(pwd)/$ROUTE_MILTER ;; esac
export ROUTE_MILTER

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

PYTHONDONTWRITEBYTECODE=1 timeout -k 10 300 /usr/bin/python3 "$here/test_postfix.py" "$@"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "run.sh: test run timed out" >&2
    echo "integration: 0 passed, 1 failed"
fi
[ $rc -eq 0 ] || exit 1
exit 0
