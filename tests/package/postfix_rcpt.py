"""The INSTALLED route-milter (/usr/sbin/route-milter) against a real, private Postfix.

Run by tests/package/run.sh after `dpkg -i`, as root:

    postfix_rcpt.py PIDFILE

Two ways of starting the daemon, each checked with one listed recipient (250) and one
unlisted recipient (550 5.1.1) through Postfix's smtpd, a SIGHUP reload and a clean stop:

  1. as root with -u route-milter and a test config, on a socket in a temporary directory
     owned by route-milter (mode 0750): the daemon opens the socket, hands it to
     route-milter and drops its privileges;
  2. as systemd's route-milter.service does: started as user route-milter (setpriv), on the
     installed /etc/route-milter/route-milter.conf (0640 root:route-milter) and the socket
     in the package's directory /var/spool/postfix/route-milter.

Postfix's smtpd runs as user postfix and reaches the 0660 sockets only through its
membership of group route-milter, which the package's postinst gives it.

Prints one line per check, "PASS name" or "FAIL name: detail"; exits 0 when all passed.
The pid of every daemon started is appended to PIDFILE, so that run.sh can stop a daemon
left behind by an interrupted run before it purges the package.
"""

import grp
import os
import pwd
import re
import shutil
import signal
import stat
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from lab import LabError, Milter, PostfixLab, cleanup_all, wait_for  # noqa: E402

BINARY = "/usr/sbin/route-milter"
USER = "route-milter"
PACKAGE_IMAGE = "/var/lib/route-milter/route-milter.image"
CONF = "/etc/route-milter/route-milter.conf"
PACKAGE_SOCKET = "/var/spool/postfix/route-milter/route-milter.sock"
SENDER = "someone@outside.example"

failures = 0


def check(name, ok, detail=""):
    global failures
    if ok:
        print("PASS %s" % name, flush=True)
    else:
        failures += 1
        print("FAIL %s: %s" % (name, detail), flush=True)
    return ok


def test_config(socket, listed):
    addresses = ", ".join('"%s"' % a for a in listed)
    return """\
# route-milter package test config
milter = { socket = "%s"; };
scope = "routes";
local_domains = [ "lab.test" ];
routes = (
  { domain = "backup.test"; treat_recipient_as = "local";
    deliver_to = "listed"; addresses = [ %s ]; }
);
""" % (socket, addresses)


def proc_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


def socket_facts(path):
    st = os.lstat(path)
    return "%s %s:%s %04o" % ("socket" if stat.S_ISSOCK(st.st_mode) else "not-a-socket",
                              pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
                              stat.S_IMODE(st.st_mode))


def record_pid(pidfile, milter):
    with open(pidfile, "a") as f:
        f.write("%d\n" % milter.proc.pid)


def rcpt_checks(label, lab, listed, unlisted):
    """One transaction: the listed recipient gets 250, the unlisted one 550 5.1.1."""
    t = lab.transaction(SENDER, [listed, unlisted])
    check("%s: MAIL FROM accepted" % label, t.mail[0] == 250, repr(t))
    if len(t.rcpts) == 2:
        code, text = t.rcpts[0]
        check("%s: listed <%s> gets 250" % (label, listed), code == 250, repr(t.rcpts[0]))
        code, text = t.rcpts[1]
        check("%s: unlisted <%s> gets 550 5.1.1" % (label, unlisted),
              code == 550 and text.startswith("5.1.1") and "Recipient not in route list" in text,
              repr(t.rcpts[1]))
    else:
        check("%s: RCPT replies" % label, False, repr(t))


def reload_check(label, milter, expect=None):
    offset = milter.log_offset()
    milter.reload()
    pattern = r"reloaded .*%s" % re.escape(milter.conf)
    try:
        wait_for(lambda: re.search(pattern, milter.log_text()[offset:]) or "fail" in milter.log_text()[offset:],
                 10, what="reload")
    except LabError:
        pass
    text = milter.log_text()[offset:]
    check("%s: SIGHUP reloads the config as user %s" % (label, USER), re.search(pattern, text), text.strip())


def stop_check(label, milter, socket_path):
    rc = milter.stop()
    check("%s: SIGTERM stops the daemon with status 0" % label, rc == 0, "status %r\n%s" % (rc, milter.log_text()))
    check("%s: the socket is removed at stop" % label, not os.path.lexists(socket_path), socket_path)


def as_root_with_u(lab, workdir, pidfile):
    """route-milter -u route-milter, started as root, socket in a directory owned by route-milter."""
    label = "-u %s" % USER
    pw = pwd.getpwnam(USER)
    sockdir = os.path.join(workdir, "sock")
    os.mkdir(sockdir)
    os.chown(sockdir, pw.pw_uid, pw.pw_gid)
    os.chmod(sockdir, 0o750)
    socket_path = os.path.join(sockdir, "x.sock")
    spec = "unix:" + socket_path
    m = Milter(os.path.join(workdir, "u"), socket_spec=spec, binary=BINARY, name="route-milter",
               user=USER, extra_args=["-u", USER])
    os.chmod(m.workdir, 0o755)  # route-milter reads its config again on SIGHUP
    m.write_config(test_config(spec, ["alice@backup.test"]))
    try:
        m.start()
    except LabError as e:
        check("%s: the installed daemon starts" % label, False, str(e))
        return
    record_pid(pidfile, m)
    check("%s: the installed daemon starts" % label, True)
    check("%s: it runs as %s" % (label, USER), proc_uid(m.proc.pid) == pw.pw_uid, "uid %s" % proc_uid(m.proc.pid))
    facts = socket_facts(socket_path)
    check("%s: socket is %s:%s 0660" % (label, USER, USER), facts == "socket %s:%s 0660" % (USER, USER), facts)
    lab.set_milter(spec)
    rcpt_checks(label, lab, "alice@backup.test", "carol@backup.test")
    m.write_config(test_config(spec, ["alice@backup.test", "carol@backup.test"]))
    reload_check(label, m)
    t = lab.transaction(SENDER, ["carol@backup.test"])
    check("%s: after the reload <carol@backup.test> gets 250" % label, t.rcpt_codes == [250], repr(t))
    stop_check(label, m, socket_path)


def as_service_user(lab, workdir, pidfile):
    """As route-milter.service: started as route-milter, installed config, package socket dir."""
    label = "as %s.service" % USER
    pw = pwd.getpwnam(USER)
    wrapper = os.path.join(workdir, "route-milter-as-service-user")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                "exec setpriv --reuid=%s --regid=%s --init-groups --inh-caps=-all %s \"$@\"\n"
                % (USER, USER, BINARY))
    os.chmod(wrapper, 0o755)
    # The image where the unit's daemon keeps it: the package's state directory, route-milter's.
    m = Milter(os.path.join(workdir, "service"), socket_spec="unix:" + PACKAGE_SOCKET, binary=wrapper,
               name="route-milter", extra_args=["-i", PACKAGE_IMAGE])
    m.conf = CONF  # the installed conffile, as it is: 0640 root:route-milter
    try:
        m.start()
    except LabError as e:
        check("%s: the installed daemon starts on %s" % (label, CONF), False, str(e))
        return
    record_pid(pidfile, m)
    check("%s: the installed daemon starts on %s" % (label, CONF), True)
    check("%s: it runs as %s" % (label, USER), proc_uid(m.proc.pid) == pw.pw_uid, "uid %s" % proc_uid(m.proc.pid))
    facts = socket_facts(PACKAGE_SOCKET)
    check("%s: %s is %s:%s 0660" % (label, PACKAGE_SOCKET, USER, USER),
          facts == "socket %s:%s 0660" % (USER, USER), facts)
    lab.set_milter("unix:" + PACKAGE_SOCKET)
    # The shipped config's example route: example.com lists alice and bob (backup MX).
    rcpt_checks(label, lab, "alice@example.com", "carol@example.com")
    reload_check(label, m)
    stop_check(label, m, PACKAGE_SOCKET)


def main():
    if len(sys.argv) != 2:
        print("usage: postfix_rcpt.py PIDFILE", file=sys.stderr)
        return 2
    pidfile = sys.argv[1]
    # A SIGTERM (timeout) must still run lab.py's atexit cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    workdir = tempfile.mkdtemp(prefix="route-milter-package-")
    os.chmod(workdir, 0o755)
    try:
        lab = PostfixLab()
        try:
            lab.start()
        except LabError as e:
            check("private Postfix starts", False, str(e))
            return 1
        check("private Postfix starts", True)
        as_root_with_u(lab, workdir, pidfile)
        as_service_user(lab, workdir, pidfile)
    except Exception as e:  # noqa: BLE001 - report, then clean up
        check("postfix_rcpt.py ran to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        cleanup_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
