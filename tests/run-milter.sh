#!/bin/sh
# `make run`: route-milter in the foreground on the shipped conf/route-milter.conf, with its
# socket under the build directory (the shipped default socket lives in /run, which a fresh
# machine may not have), logging to stderr. Ctrl-C stops it.
set -eu
build=$(cd "${1:-build}" && pwd)
mkdir -p "$build/run"
socket="$build/run/route-milter.sock"
# Postfix's smtpd runs as user postfix and must reach the 0660 socket: as root, run as postfix.
as_user=""
if [ "$(id -u)" = 0 ] && getent passwd postfix >/dev/null; then as_user="-u postfix"; fi
# A checkout made with umask 002 leaves the file group-writable, which route-milter refuses.
chmod go-w conf/route-milter.conf
echo "route-milter: starting on unix:$socket with conf/route-milter.conf"
echo "Attach it to Postfix with:"
echo "    postconf -e 'smtpd_milters = unix:$socket' 'milter_default_action = tempfail'"
echo "    (smtpd must reach the socket: set the chroot column of smtp in master.cf to n, or see README)"
# The compiled policy goes beside the socket; a reload compiles it there again as that user.
if [ -n "$as_user" ]; then chown postfix "$build/run"; fi
exec "$build/route-milter" -c conf/route-milter.conf -i "$build/run/route-milter.image" -p "unix:$socket" $as_user -l stderr
