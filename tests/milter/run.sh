#!/bin/sh
# route-milter driven by miltertest(8), no MTA and no root needed. Usage:
#   ROUTE_MILTER=build/route-milter tests/milter/run.sh [Class[.test] ...]
# Last line of output: "milter: N passed, M failed"; exit status non-zero on any failure.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${ROUTE_MILTER:=$root/build/route-milter}"
case $ROUTE_MILTER in /*) ;; *) ROUTE_MILTER=$(pwd)/$ROUTE_MILTER ;; esac
export ROUTE_MILTER
if [ ! -x "$ROUTE_MILTER" ] || [ -d "$ROUTE_MILTER" ]; then
    echo "run.sh: route-milter binary not found or not executable: $ROUTE_MILTER" >&2
    echo "milter: 0 passed, 1 failed"
    exit 1
fi
exec python3 "$here/test_milter.py" "$@"
