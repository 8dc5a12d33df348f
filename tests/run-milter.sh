#!/bin/sh
# `make run`: route-milter in the foreground on the shipped conf/route-milter.conf, with its
# socket under the build directory (the shipped default socket lives in /run, which a fresh
# machine may not have), logging to stderr. Ctrl-C stops it.
set -eu
build=$(cd "${1:-build}" && pwd)
mkdir -p "$build/run"
socket="$build/run/route-milter.sock"
echo "route-milter: starting on unix:$socket with conf/route-milter.conf"
echo "Attach it to Postfix with:"
echo "    postconf -e 'smtpd_milters = unix:$socket' 'milter_default_action = tempfail'"
echo "    (Postfix's smtpd must be able to reach the socket: run smtpd unchrooted, or see README)"
exec "$build/route-milter" -c conf/route-milter.conf -p "unix:$socket" -l stderr
