#!/bin/sh
# route-milter against a real Sendmail (needs root). Usage:
#   ROUTE_MILTER=build/route-milter ROUTECTL=build/routectl tests/sendmail/run.sh [Class[.test] ...]
#
# Debian's sendmail-bin conflicts with postfix, so it is never installed: its packages are
# fetched with `apt-get download` and unpacked with `dpkg -x` into $SENDMAIL_ROOT (default
# build/sendmail-root, kept as a cache; remove it to fetch again). m4, sasl2-bin,
# libsasl2-modules and python3 do not conflict and are installed with apt-get when missing.
# When the Sendmail packages cannot be fetched at all (and are not cached), the suite is
# skipped with a message saying so.
#
# Every process the tests start is stopped again, also on failure or interruption.
# Last line of output: "sendmail: N passed, M failed"; exit status non-zero on any failure.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${ROUTE_MILTER:=$root/build/route-milter}"
case $ROUTE_MILTER in /*) ;; *) ROUTE_MILTER=$(pwd)/$ROUTE_MILTER ;; esac
: "${ROUTECTL:=$root/build/routectl}"
case $ROUTECTL in /*) ;; *) ROUTECTL=$(pwd)/$ROUTECTL ;; esac
: "${SENDMAIL_ROOT:=$root/build/sendmail-root}"
case $SENDMAIL_ROOT in /*) ;; *) SENDMAIL_ROOT=$(pwd)/$SENDMAIL_ROOT ;; esac
export ROUTE_MILTER ROUTECTL SENDMAIL_ROOT

fail() {  # fail MESSAGE: the suite cannot run; that is a failure
    echo "run.sh: $1" >&2
    echo "sendmail: 0 passed, 1 failed"
    exit 1
}

[ "$(id -u)" -eq 0 ] || fail "must run as root (a private Sendmail daemon is started)"
for b in "$ROUTE_MILTER" "$ROUTECTL"; do
    [ -x "$b" ] && [ ! -d "$b" ] || fail "$b not found or not executable: build it (make) or set ROUTE_MILTER/ROUTECTL"
done

# ---------------------------------------------------------------- prerequisites
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=""
for p in m4 sasl2-bin libsasl2-modules python3; do
    installed "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "run.sh: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; } ||
        fail "cannot install$missing"
fi

# The packages to unpack: sendmail-bin (binaries, helpfile), sendmail-cf (the m4 files), and
# the libraries sendmail-bin needs that are not installed here (libwrap0, liblockfile1, ...).
sendmail_packages() {
    echo sendmail-bin sendmail-cf
    apt-cache depends sendmail-bin 2>/dev/null | sed -n 's/^ *Depends: \(lib[^ <>]*\)$/\1/p' | sort -u |
        while read -r lib; do installed "$lib" || echo "$lib"; done
}

unpack_sendmail() {
    debs=$root/build/sendmail-debs
    rm -rf "$debs" "$SENDMAIL_ROOT.tmp"
    mkdir -p "$debs"
    if ! apt-cache show sendmail-bin >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1
    fi
    packages=$(sendmail_packages | tr '\n' ' ')
    echo "run.sh: fetching $packages(apt-get download; unpacked into $SENDMAIL_ROOT, not installed)" >&2
    if ! (cd "$debs" && apt-get -o APT::Sandbox::User=root download $packages >"$debs/download.log" 2>&1); then
        if ! (apt-get update -qq >/dev/null 2>&1 &&
              cd "$debs" && apt-get -o APT::Sandbox::User=root download $packages >"$debs/download.log" 2>&1); then
            sed 's/^/run.sh:   /' "$debs/download.log" >&2
            return 2
        fi
    fi
    for deb in "$debs"/*.deb; do
        dpkg -x "$deb" "$SENDMAIL_ROOT.tmp" || return 1
    done
    # Unpacked, not installed: no setgid (the loader would ignore LD_LIBRARY_PATH), no daemon.
    find "$SENDMAIL_ROOT.tmp" -type f -perm /6000 -exec chmod ug-s {} +
    libs=$(find "$SENDMAIL_ROOT.tmp/usr/lib" -name '*.so*' -printf '%h\n' 2>/dev/null | sort -u | tr '\n' ':')
    if LD_LIBRARY_PATH=$libs ldd "$SENDMAIL_ROOT.tmp/usr/libexec/sendmail/sendmail" | grep -q 'not found'; then
        LD_LIBRARY_PATH=$libs ldd "$SENDMAIL_ROOT.tmp/usr/libexec/sendmail/sendmail" | grep 'not found' >&2
        return 1
    fi
    (cd "$debs" && ls ./*.deb) >"$SENDMAIL_ROOT.tmp/.unpacked"
    rm -rf "$SENDMAIL_ROOT" && mv "$SENDMAIL_ROOT.tmp" "$SENDMAIL_ROOT" && rm -rf "$debs"
}

if [ ! -f "$SENDMAIL_ROOT/.unpacked" ]; then
    unpack_sendmail
    rc=$?
    rm -rf "$root/build/sendmail-debs" "$SENDMAIL_ROOT.tmp"
    if [ $rc -eq 2 ]; then
        echo "run.sh: SKIPPED: the Sendmail packages (sendmail-bin, sendmail-cf) cannot be fetched from the" >&2
        echo "run.sh: SKIPPED: Debian archive (apt-get download failed, see above), and none are cached in" >&2
        echo "run.sh: SKIPPED: $SENDMAIL_ROOT: the Sendmail tests did not run." >&2
        echo "sendmail: 0 passed, 0 failed"
        exit 0
    fi
    [ $rc -eq 0 ] || fail "could not unpack the Sendmail packages into $SENDMAIL_ROOT"
fi
echo "run.sh: Sendmail from $SENDMAIL_ROOT: $(tr '\n' ' ' <"$SENDMAIL_ROOT/.unpacked")" >&2

# ---------------------------------------------------------------- the tests
summary=$(mktemp)

# Whatever a killed test run may have left: Sendmail processes of the unpacked binary working in
# a lab directory, and route-milters started with a lab config. Found by their own pid.
stop_leftovers() {
    real=$(readlink -f "$SENDMAIL_ROOT/usr/libexec/sendmail/sendmail")
    milter=$(readlink -f "$ROUTE_MILTER")
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$pid" = "$$" ] && continue
        exe=$(readlink -f "$d/exe" 2>/dev/null) || continue
        if [ "$exe" = "$real" ]; then
            case $(readlink -f "$d/cwd" 2>/dev/null) in
                "$root"/build/sendmail-lab-*|/run/route-milter-tests/sendmail-lab-*) kill -9 "$pid" 2>/dev/null ;;
            esac
        elif [ "$exe" = "$milter" ] && tr '\0' ' ' <"$d/cmdline" 2>/dev/null |
                grep -qE "($root/build|/run/route-milter-tests)/sendmail-lab-"; then
            kill -9 "$pid" 2>/dev/null
        fi
    done
    # Labs live in build/, or in /run/route-milter-tests for a checkout below a world-writable
    # directory (lab_sendmail.work_base).
    [ -n "$LAB_KEEP" ] || rm -rf "$root"/build/sendmail-lab-* /run/route-milter-tests/sendmail-lab-*
}
trap 'stop_leftovers; rm -f "$summary"' EXIT
trap 'exit 130' INT TERM

# Sendmail keeps per-host status files (e.g. "[IPC]") relative to its working directory when it
# runs outside its queue (sendmail -bt, -qI from routectl): let that be build/, not the checkout.
cd "$root/build" || exit 1
PYTHONDONTWRITEBYTECODE=1 timeout -k 10 300 /usr/bin/python3 "$here/test_sendmail.py" "$@" >"$summary"
rc=$?
grep -vE '^sendmail: [0-9]+ passed, [0-9]+ failed$' "$summary"
line=$(grep -E '^sendmail: [0-9]+ passed, [0-9]+ failed$' "$summary" | tail -n 1)
if [ -n "$line" ]; then
    passed=$(echo "$line" | sed 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/')
    failed=$(echo "$line" | sed 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/')
    [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
else
    if [ $rc -eq 124 ]; then
        echo "run.sh: test run timed out" >&2
    elif [ $rc -gt 128 ]; then
        echo "run.sh: test run killed (exit $rc)" >&2
    else
        echo "run.sh: no summary from test_sendmail.py (exit $rc)" >&2
    fi
    passed=0
    failed=1
fi
echo "sendmail: $passed passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
