#!/bin/sh
# The Debian package, end to end, on this machine (as root): `make deb`, lintian, dpkg -i, what
# postinst created, the installed daemon against a real Postfix, day one for an hMailServer admin
# on the system's /etc/postfix (import, routectl apply, warn, enforce; put back as it was after),
# the installed systemd units (systemd-analyze verify and security), dpkg -r, dpkg --purge, and
# that nothing is left.
# Every check prints "ok - NAME" or "FAIL - NAME"; the last line is
# "package: N passed, M failed"; the exit status is non-zero when anything failed.
# The package is purged again on every exit, also after a failure or an interrupt, but only when
# this suite installed it: a route-milter found installed (or its config left behind) is never
# touched, and the suite does not run (counted as one failure, with the reason).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

PKG=route-milter
USER_NAME=route-milter
CONF=/etc/route-milter/route-milter.conf
SOCKET_DIR=/var/spool/postfix/route-milter
STATE_DIR=/var/lib/route-milter
MAX_EXPOSURE=2.5
UNITS="route-milter.service routectl-retry.service routectl-retry.timer"

# Written before dpkg -i, removed after the purge: a package left by a run that was killed is
# this suite's to purge; any other installed route-milter is the machine's.
OURS=$root/build/package-suite.installed

passed=0
failed=0
tmp=$(mktemp -d)
pidfile=$tmp/daemon-pids

pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() {  # check NAME COMMAND...: passes when COMMAND exits 0; its output is shown on failure
    name=$1; shift
    if "$@" >"$tmp/out" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/    /' "$tmp/out"; fi
}
finish() {  # clean up, then the summary line, last
    cleanup
    trap - EXIT INT TERM HUP
    echo "package: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] && exit 0
    exit 1
}

helper() {  # helper SCRIPT SECONDS: a python check script beside run.sh; its PASS/FAIL lines count
    PYTHONDONTWRITEBYTECODE=1 timeout -k 10 "$2" python3 "$here/$1" "$pidfile" >"$tmp/helper" 2>&1
    helper_rc=$?
    while IFS= read -r line; do
        case $line in
            "PASS "*) pass "${line#PASS }" ;;
            "FAIL "*) fail "${line#FAIL }" ;;
            *) echo "    $line" ;;
        esac
    done <"$tmp/helper"
    if [ "$helper_rc" -ne 0 ] && ! grep -q '^FAIL ' "$tmp/helper"; then fail "$1 exited $helper_rc"; fi
    stop_daemons
}

# What day_one.py changes on this machine, saved before and put back after it, also on failure:
# Postfix's main.cf (absent is saved as absent), master.cf, the maps' directory, route-milter's
# config; and what the system Postfix it starts leaves in its queue and data directories.
saved=$tmp/saved
etc_manifest() {
    find /etc/postfix /etc/route-milter -printf '%p %y %m %u:%g\n' | LC_ALL=C sort
    find /etc/postfix /etc/route-milter -type f -exec sha256sum {} + | LC_ALL=C sort
}
runtime_manifest() { find /var/spool/postfix /var/lib/postfix -printf '%p %y %m %u:%g\n' | LC_ALL=C sort; }
etc_as_saved() { etc_manifest | diff "$tmp/etc.manifest" -; }
runtime_as_saved() { runtime_manifest | diff "$tmp/runtime.manifest" -; }
save_system() {
    mkdir -p "$saved"
    for f in main.cf master.cf route-milter; do
        if [ -e /etc/postfix/$f ]; then cp -a /etc/postfix/$f "$saved/$f" || return 1; else : >"$saved/$f.absent"; fi
    done
    cp -a "$CONF" "$saved/route-milter.conf" || return 1
    etc_manifest >"$tmp/etc.manifest"
    runtime_manifest >"$tmp/runtime.manifest"
    : >"$saved/complete"  # what restore_system puts back is all there
}
restore_system() {
    [ -f "$saved/complete" ] || return 0
    for f in main.cf master.cf route-milter; do
        rm -rf "/etc/postfix/$f"
        [ -e "$saved/$f.absent" ] || cp -a "$saved/$f" "/etc/postfix/$f"
    done
    cp -a "$saved/route-milter.conf" "$CONF"
    # Postfix's pid, lock and socket files, and a socket left by a daemon that was killed.
    runtime_manifest | cut -d' ' -f1 | LC_ALL=C sort >"$tmp/runtime.now"
    cut -d' ' -f1 "$tmp/runtime.manifest" | LC_ALL=C sort | LC_ALL=C comm -13 - "$tmp/runtime.now" |
    while IFS= read -r p; do
        case $p in /var/spool/postfix/*|/var/lib/postfix/*) rm -rf "$p" ;; esac
    done
    rm -rf "$saved"
}

installed() { dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -qv '^unknown ok not-installed$'; }
stop_daemons() {  # the daemons and the Postfix master the helpers started, if any survived them
    [ -f "$pidfile" ] || return 0
    while read -r pid; do
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null
    done <"$pidfile"
    rm -f "$pidfile"
}
cleanup() {  # also after a failure: no daemon of ours left, the package this suite installed purged
    stop_daemons
    restore_system
    if [ -f "$OURS" ] && installed; then
        echo "cleanup: dpkg --purge $PKG"
        dpkg --purge "$PKG" >/dev/null 2>&1 || fail "cleanup: dpkg --purge $PKG"
    fi
    installed || rm -f "$OURS"
    rm -rf "$tmp"
}
trap 'fail "run.sh ended early"; finish' EXIT
trap 'fail "run.sh interrupted"; finish' INT TERM HUP

if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: must run as root (it installs and purges the package)" >&2
    fail "running as root"
    finish
fi
export DEBIAN_FRONTEND=noninteractive
if installed && [ ! -f "$OURS" ]; then
    state=$(dpkg-query -W -f='${Version} (${Status})' "$PKG" 2>/dev/null)
    echo "SKIPPED: $PKG $state was on this machine before the suite, not installed by it."
    echo "SKIPPED: the suite installs, removes and purges the package (config included), so it"
    echo "SKIPPED: leaves this one as it is and does not run: run it on a machine without $PKG."
    fail "package suite skipped: $PKG was installed before it (left untouched)"
    finish
fi
if installed; then
    echo "note: $PKG was left installed by an earlier run of this suite; purging it first"
    dpkg --purge "$PKG" >/dev/null
fi

# ---------------------------------------------------------------- build and lint
echo "# make deb"
deb=$root/build/deb/${PKG}_$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)_amd64.deb
changes=${deb%.deb}.changes
if make -s deb >"$tmp/build.log" 2>&1 && [ -f "$deb" ]; then
    pass "make deb builds $(basename "$deb")"
else
    fail "make deb builds $(basename "$deb")"
    tail -n 40 "$tmp/build.log" | sed 's/^/    /'
    finish
fi
grep -E '^unit: ' "$tmp/build.log" | sed 's/^/    dh_auto_test: /'

echo "# lintian"
# --pedantic shows the info and pedantic tags too; only errors and warnings fail the check.
lintian --fail-on error,warning --display-info --pedantic "$changes" >"$tmp/lintian" 2>&1
lintian_rc=$?
grep -E '^[EWIPXO]: ' "$tmp/lintian" | sed 's/^/    /'
if [ "$lintian_rc" -eq 0 ] && ! grep -qE '^[EW]: ' "$tmp/lintian"; then
    pass "lintian: no errors, no warnings (.deb, dbgsym .deb, .changes, .buildinfo)"
else
    fail "lintian: no errors, no warnings (exit $lintian_rc)"
    grep -vE '^[IPXO]: ' "$tmp/lintian" | sed 's/^/    /'
fi

# ---------------------------------------------------------------- install
echo "# install"
missing=""
for dep in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/[[(].*//; s/|.*//; s/ //g'); do
    dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $dep"
done
if [ -n "$missing" ]; then
    echo "installing runtime dependencies:$missing"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
mkdir -p "$(dirname "$OURS")" && : >"$OURS"
check "dpkg -i $(basename "$deb")" dpkg -i "$deb"
if ! installed; then finish; fi

check "dpkg -s: $PKG is installed" sh -c "dpkg-query -W -f='\${Status}' $PKG | grep -qx 'install ok installed'"
for f in /usr/sbin/route-milter /usr/sbin/routectl; do check "$f is installed, executable" test -x "$f"; done
check "/usr/sbin/route-milter -V prints 0.1.0" sh -c '/usr/sbin/route-milter -V | grep -q " 0\.1\.0 "'
check "$CONF is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' $PKG | grep -q ' $CONF '"
for m in route-milter.8 routectl.8 route-milter.conf.5; do
    page=/usr/share/man/man${m##*.}/$m.gz
    check "man page $m is installed and renders without warnings" \
        sh -c "test -f $page && LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z $page >/dev/null 2>$tmp/man.err && ! test -s $tmp/man.err || { cat $tmp/man.err; false; }"
done
check "README and changelog in /usr/share/doc/$PKG" \
    test -f /usr/share/doc/$PKG/README.md.gz -a -f /usr/share/doc/$PKG/changelog.Debian.gz -a -f /usr/share/doc/$PKG/copyright
for example in "$root"/examples/*.conf; do
    name=$(basename "$example")
    check "example $name in /usr/share/doc/$PKG/examples, as shipped, and routectl check passes it" sh -c "
        f=/usr/share/doc/$PKG/examples/$name; [ -f \$f ] || { f=\$f.gz; [ -f \$f ]; } || { echo 'not installed'; exit 1; }
        zcat -f \$f | cmp - '$example' && zcat -f \$f >$tmp/$name && chmod 0600 $tmp/$name &&
        /usr/sbin/routectl check -c $tmp/$name"
done
check "bash completion for routectl in /usr/share/bash-completion/completions/routectl completes its commands" \
    bash -c "test -f /usr/share/bash-completion/completions/routectl &&
        . /usr/share/bash-completion/completions/routectl && COMP_WORDS=(routectl che) COMP_CWORD=1 &&
        _routectl && [ \"\${COMPREPLY[*]}\" = check ]"
for u in $UNITS; do check "unit /lib/systemd/system/$u is installed" test -f /lib/systemd/system/$u; done
for p in postfix.service postfix@-.service; do
    check "route-milter.service starts before $p" sh -c "
        sed -n 's/^Before=//p' /lib/systemd/system/route-milter.service | tr ' ' '\n' | grep -qxF '$p'"
done
check "route-milter.service is enabled (multi-user.target.wants)" \
    test -L /etc/systemd/system/multi-user.target.wants/route-milter.service
check "routectl-retry.timer is not enabled by default" \
    test ! -e /etc/systemd/system/timers.target.wants/routectl-retry.timer

echo "# what postinst created"
check "system user $USER_NAME exists (uid < 1000, no login shell, no home)" sh -c "
    uid=\$(id -u $USER_NAME) && [ \"\$uid\" -lt 1000 ] &&
    getent passwd $USER_NAME | cut -d: -f7 | grep -qE '(nologin|false)\$' &&
    home=\$(getent passwd $USER_NAME | cut -d: -f6) && [ ! -e \"\$home\" ]"
check "group $USER_NAME exists and is $USER_NAME's primary group" \
    sh -c "[ \"\$(id -gn $USER_NAME)\" = $USER_NAME ]"
check "postfix is a member of group $USER_NAME" sh -c "id -Gn postfix | tr ' ' '\n' | grep -qx $USER_NAME"
check "$SOCKET_DIR is a directory, $USER_NAME:$USER_NAME 0750" \
    sh -c "[ -d $SOCKET_DIR ] && [ \"\$(stat -c '%U:%G %a' $SOCKET_DIR)\" = '$USER_NAME:$USER_NAME 750' ]"
check "$CONF is root:$USER_NAME 0640" sh -c "[ \"\$(stat -c '%U:%G %a' $CONF)\" = 'root:$USER_NAME 640' ]"
check "dpkg-statoverride holds root $USER_NAME 0640 for $CONF" \
    sh -c "dpkg-statoverride --list $CONF | grep -qxE 'root $USER_NAME 0?640 $CONF'"
check "$STATE_DIR (the policy image, routectl retry's state) is $USER_NAME:$USER_NAME 0750" \
    sh -c "[ -d $STATE_DIR ] && [ \"\$(stat -c '%U:%G %a' $STATE_DIR)\" = '$USER_NAME:$USER_NAME 750' ]"

echo "# the installed binaries"
check "route-milter -t -c $CONF exits 0" /usr/sbin/route-milter -t -c $CONF
check "route-milter -t -c $CONF exits 0 as user $USER_NAME (as ExecStartPre=)" \
    setpriv --reuid=$USER_NAME --regid=$USER_NAME --init-groups /usr/sbin/route-milter -t -c $CONF
check "routectl check -c $CONF exits 0" /usr/sbin/routectl check -c $CONF
check "routectl query: the shipped example refuses an unlisted backup-MX address" sh -c \
    "/usr/sbin/routectl query -c $CONF --client 203.0.113.9 --from a@far.test carol@example.com |
     grep -q 'REJECT 550 5.1.1'"

echo "# the installed route-milter with a real Postfix"
helper postfix_rcpt.py 240

echo "# day one: import, routectl apply, warn, enforce, on the system's /etc/postfix"
# What a container without systemd cannot do: start route-milter.service itself, so the unit's
# sandbox and apply's `systemctl reload route-milter.service` are not exercised here (the daemon
# runs as the unit's user with setpriv and is reloaded with SIGHUP); nor run postfix.service, so
# Postfix runs in the foreground (postfix start-fg) on a loopback port, discarding all mail.
if save_system; then
    helper day_one.py 180
    restore_system
    check "after day one: /etc/postfix and $CONF are byte for byte as before (names, modes, owners, contents)" \
        etc_as_saved
    check "after day one: /var/spool/postfix and /var/lib/postfix hold what they held before" runtime_as_saved
else
    fail "day one: /etc/postfix's main.cf, master.cf and $CONF saved before the walkthrough"
fi

echo "# systemd units"
check "systemd-analyze verify $(echo $UNITS)" sh -c "
    cd /lib/systemd/system && systemd-analyze verify $UNITS >$tmp/verify 2>&1; rc=\$?; cat $tmp/verify
    [ \$rc -eq 0 ] && ! grep -qE 'route-milter|routectl' $tmp/verify"
systemd-analyze security --offline=yes /lib/systemd/system/route-milter.service >"$tmp/security" 2>&1
exposure=$(sed -n 's/.*Overall exposure level for route-milter.service: \([0-9.]*\).*/\1/p' "$tmp/security")
echo "    systemd-analyze security --offline=yes route-milter.service: exposure ${exposure:-?}"
grep -E '^✗' "$tmp/security" | sed 's/^/    /'
if [ -n "$exposure" ] && awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }'; then
    pass "route-milter.service exposure $exposure <= $MAX_EXPOSURE"
else
    fail "route-milter.service exposure ${exposure:-unknown} <= $MAX_EXPOSURE"
    cat "$tmp/security" | sed 's/^/    /'
fi

echo "# triggers and reinstall"
# Postfix installed after route-milter: dpkg runs postinst "triggered", which adds postfix.
deluser --quiet postfix $USER_NAME >/dev/null 2>&1
check "postfix (re)installed later is added to group $USER_NAME (dpkg trigger)" sh -c "
    dpkg-trigger --by-package=postfix --no-await /usr/sbin/postfix && dpkg --triggers-only $PKG &&
    id -Gn postfix | tr ' ' '\n' | grep -qx $USER_NAME"
check "dpkg -i again (reinstall) succeeds" dpkg -i "$deb"
check "after the reinstall $CONF is still root:$USER_NAME 0640" \
    sh -c "[ \"\$(stat -c '%U:%G %a' $CONF)\" = 'root:$USER_NAME 640' ]"

# ---------------------------------------------------------------- remove, purge
echo "# dpkg -r"
check "dpkg -r $PKG" dpkg -r "$PKG"
check "after remove: /usr/sbin/route-milter and routectl are gone" \
    test ! -e /usr/sbin/route-milter -a ! -e /usr/sbin/routectl
check "after remove: user and group $USER_NAME are kept" sh -c "getent passwd $USER_NAME && getent group $USER_NAME"
check "after remove: the conffile $CONF is kept" test -f $CONF

echo "# dpkg --purge"
check "dpkg --purge $PKG" dpkg --purge "$PKG"
check "after purge: dpkg knows nothing of $PKG" sh -c "! dpkg-query -W -f='\${Status}' $PKG 2>/dev/null | grep -q ."
for p in /usr/sbin/route-milter /usr/sbin/routectl /etc/route-milter $SOCKET_DIR $STATE_DIR \
         /lib/systemd/system/route-milter.service /lib/systemd/system/routectl-retry.timer \
         /usr/share/man/man8/route-milter.8.gz /usr/share/doc/$PKG /usr/share/bash-completion/completions/routectl \
         /etc/systemd/system/multi-user.target.wants/route-milter.service; do
    check "after purge: $p is gone" test ! -e "$p" -a ! -L "$p"
done
check "after purge: no user $USER_NAME" sh -c "! getent passwd $USER_NAME"
check "after purge: no group $USER_NAME" sh -c "! getent group $USER_NAME"
check "after purge: postfix is in no group $USER_NAME" sh -c "! id -Gn postfix | tr ' ' '\n' | grep -qx $USER_NAME"
check "after purge: $USER_NAME appears nowhere in /etc/passwd, group, shadow, gshadow" \
    sh -c "! grep -w $USER_NAME /etc/passwd /etc/group /etc/shadow /etc/gshadow"
check "after purge: no statoverride for $CONF" sh -c "! dpkg-statoverride --list $CONF"
check "after purge: no statoverride left that names $USER_NAME" sh -c "! dpkg-statoverride --list | grep -q $USER_NAME"

finish
