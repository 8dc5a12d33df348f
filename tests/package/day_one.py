"""Day one for an hMailServer admin, on the INSTALLED package and the system's /etc/postfix.

Run by tests/package/run.sh after `dpkg -i`, as root, once run.sh has saved /etc/postfix's
main.cf and master.cf and the installed route-milter.conf (it puts them back, also on failure):

    day_one.py PIDFILE

The walkthrough of tests/integration/test_apply.py (DayOneTests), as an admin types it:
/usr/sbin/routectl import-hmailserver into /etc/route-milter/route-milter.conf, `routectl apply`
with its defaults (main.cf in /etc/postfix, the maps in /etc/postfix/route-milter, the milter
address from the config's default socket), warn, enforce.

The admin's Postfix is the system's: /etc/postfix, queue /var/spool/postfix with smtpd chrooted
there (so the address apply writes, unix:/route-milter/route-milter.sock, is tried for real).
Its main.cf is written here: loopback only, on a free port, every mail discarded (as
postfix_rcpt.py's lab), with another milter (a route-milter of its own in warn mode that logs
every recipient) in smtpd_milters and a relay domain of its own, admin-relay.test. Postfix runs
as postfix_rcpt.py runs it (`postfix start-fg`, its own process group), not as postfix.service.

route-milter runs as route-milter.service would: under systemd when this machine runs it
(systemctl start; apply then reloads the unit itself); else started as user route-milter with
setpriv on the installed config, as postfix_rcpt.py does, and reloaded by apply's SIGHUP to the
route-milter serving that config.

Prints one line per check, "PASS name" or "FAIL name: detail"; exits 0 when all passed. The
pids of the daemons and of Postfix's master are appended to PIDFILE for run.sh's cleanup.
"""

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "integration"))
sys.path.insert(0, here)

import postfix_rcpt  # noqa: E402
from postfix_rcpt import BINARY, CONF, PACKAGE_IMAGE, PACKAGE_SOCKET, USER, check, record_pid  # noqa: E402
from lab import LabError, Milter, PostfixLab, cleanup_all, free_port, wait_for  # noqa: E402
from test_apply import BACKUP_RANGES, BACKUP_ROUTES, OTHER_MILTER_CONF, RELAY_HOST, SENDER, digest, tree_digest  # noqa: E402
import test_hmailserver as hms  # noqa: E402

ROUTECTL = "/usr/sbin/routectl"
POSTFIX_DIR = "/etc/postfix"
MAPS = "/etc/postfix/route-milter"
UNIT = "route-milter.service"
# Debian's smtpd runs chrooted in the queue directory, where the package's socket directory is.
MILTER_ADDRESS = "unix:/" + os.path.relpath(PACKAGE_SOCKET, "/var/spool/postfix")


def routectl(*args):
    return subprocess.run([ROUTECTL] + list(args), capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def postconf(*args):
    return subprocess.run(["postconf"] + list(args), capture_output=True, text=True).stdout.strip()


def owner_mode(path):
    st = os.stat(path)
    return "%s:%s %o" % (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))


def system_state():
    """main.cf, master.cf and the maps' directory, byte for byte."""
    return (digest(os.path.join(POSTFIX_DIR, "main.cf")), digest(os.path.join(POSTFIX_DIR, "master.cf")),
            tree_digest(MAPS))


class SystemPostfix(PostfixLab):
    """The system's Postfix: /etc/postfix, /var/spool/postfix (smtpd chrooted), /var/lib/postfix;
    only its log lives in a directory of its own."""

    def __init__(self, milter, relay_domains):
        super().__init__(milter=milter, extra_main={"relay_domains": relay_domains})

    @property
    def config_dir(self):
        return POSTFIX_DIR

    @property
    def queue_dir(self):
        return "/var/spool/postfix"

    def master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _main_cf(self):
        # The lab's settings, less its private directories and SASL: the system's defaults.
        private = ("config_directory", "queue_directory", "data_directory", "cyrus_sasl_config_path")
        lines = [l for l in super()._main_cf().splitlines(True)
                 if l.split(" = ")[0] not in private and not l.startswith("smtpd_sasl_")]
        return "".join(lines) + "smtpd_sasl_auth_enable = no\n"

    def _setup(self):
        self.dir = tempfile.mkdtemp(prefix="route-milter-day-one-")
        os.chmod(self.dir, 0o755)
        os.makedirs(self.path("log"), mode=0o755)
        self.port = free_port(self.host)
        with open(os.path.join(POSTFIX_DIR, "master.cf")) as f:
            master = f.read()
        # The admin's master.cf, its smtpd (chroot and all) on a loopback port of its own.
        master, n = re.subn(r"(?m)^smtp(\s+)inet\b", "%s:%d inet" % (self.host, self.port), master, count=1)
        if n != 1:
            raise LabError("%s/master.cf has no \"smtp inet\" service to listen on" % POSTFIX_DIR)
        with open(os.path.join(POSTFIX_DIR, "master.cf"), "w") as f:
            f.write(master)
        with open(os.path.join(POSTFIX_DIR, "main.cf"), "w") as f:
            f.write(self._main_cf())


class ServiceDaemon(Milter):
    """route-milter as route-milter.service runs it, without systemd: user route-milter (setpriv),
    the installed config, the package's socket and image."""

    def __init__(self, workdir):
        wrapper = os.path.join(workdir, "route-milter-as-service-user")
        os.makedirs(workdir, exist_ok=True)
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec setpriv --reuid=%s --regid=%s --init-groups --inh-caps=-all %s \"$@\"\n"
                    % (USER, USER, BINARY))
        os.chmod(wrapper, 0o755)
        super().__init__(os.path.join(workdir, "service"), socket_spec="unix:" + PACKAGE_SOCKET, binary=wrapper,
                         name="route-milter", extra_args=["-i", PACKAGE_IMAGE])
        self.conf = CONF

    def reload_after_apply(self, applied, offset):
        """Without systemd, apply sends SIGHUP to the route-milter serving its config: this one."""
        if "route-milter: reloaded (pid %d)" % self.proc.pid not in applied.stdout:
            return "apply did not reload pid %d: %s" % (self.proc.pid, applied.stdout)
        wait_for(lambda: re.search(r"reloaded|fail", self.log_text()[offset:]), 15, what="route-milter reload")
        return self.log_text()[offset:]


class UnitDaemon:
    """route-milter.service itself, under the systemd this machine runs."""

    def __init__(self):
        self.since = time.strftime("%Y-%m-%d %H:%M:%S")

    def start(self):
        r = subprocess.run(["systemctl", "start", UNIT], capture_output=True, text=True)
        if r.returncode != 0:
            raise LabError("systemctl start %s: %s" % (UNIT, r.stderr))
        return self

    def stop(self):
        return subprocess.run(["systemctl", "stop", UNIT]).returncode

    def log_text(self):
        return subprocess.run(["journalctl", "-q", "--no-pager", "-o", "cat", "-u", UNIT, "--since", self.since],
                              capture_output=True, text=True).stdout

    def log_offset(self):
        return len(self.log_text())

    def reload_after_apply(self, applied, offset):
        return applied.stdout  # apply ran systemctl reload itself: "route-milter: reloaded"


def with_mode(imported, mode):
    """The imported config as the admin edits it: a top-level mode, their relay domain as local."""
    text = imported.replace("local_domains = [ ];", 'local_domains = [ "admin-relay.test" ];', 1)
    if text == imported:
        raise LabError("the imported config has no empty local_domains to add admin-relay.test to")
    return 'mode = "%s";\n%s' % (mode, text)


def edit_in_place(path, text):
    """Rewrites the file itself, as an editor saving in place: its owner, group and mode stay."""
    with open(path, "r+") as f:
        f.truncate(0)
        f.write(text)


def rcpt(lab, *recipients):
    return lab.rcpt_replies(SENDER, list(recipients))


def walkthrough(workdir, pidfile):
    other = Milter(os.path.join(workdir, "other"), config_text=OTHER_MILTER_CONF, binary=BINARY,
                   socket_spec="inet:%d@127.0.0.1" % free_port(), name="other")
    other.start()
    record_pid(pidfile, other)
    other_entry = "{ %s, default_action=accept }" % other.postfix_socket
    lab = SystemPostfix(other_entry, "admin-relay.test")
    try:
        lab.start()
    except LabError as e:
        check("day one: the system Postfix starts from %s with another milter and relay_domains = "
              "admin-relay.test" % POSTFIX_DIR, False, str(e))
        return
    with open(pidfile, "a") as f:
        f.write("%d\n" % (lab.master_pid() or lab.proc.pid))
    check("day one: the system Postfix starts from %s with another milter and relay_domains = admin-relay.test"
          % POSTFIX_DIR, True)
    replies = rcpt(lab, "anyone@admin-relay.test")
    check("day one: before route-milter, the admin's relay domain receives", [c for c, _ in replies] == [250], replies)

    # Import, as the admin: over the package's conffile, which keeps its owner, group and mode.
    perms = owner_mode(CONF)
    archive = hms.make_backup(os.path.join(workdir, "backup"),
                              hms.backup_xml(routes=BACKUP_ROUTES, ranges=BACKUP_RANGES, domains=[]))
    r = routectl("import-hmailserver", "-o", CONF, "--force", archive)
    check("day one: routectl import-hmailserver -o %s --force BACKUP.7z" % CONF, r.returncode == 0, r.stderr)
    check("day one: the imported %s keeps the package's owner, group and mode" % CONF, owner_mode(CONF) == perms,
          "%s, was %s" % (owner_mode(CONF), perms))
    with open(CONF) as f:
        imported = f.read()
    edit_in_place(CONF, with_mode(imported, "warn"))
    r = routectl("check")
    check("day one: routectl check passes the edited config (mode = \"warn\", admin-relay.test local)",
          r.returncode == 0 and hms.RELAY_PASSWORD not in r.stdout + r.stderr, r.stdout + r.stderr)
    r = subprocess.run(["setpriv", "--reuid=" + USER, "--regid=" + USER, "--init-groups", BINARY, "-t", "-c", CONF],
                       capture_output=True, text=True)
    check("day one: route-milter -t as %s passes it (the unit's ExecStartPre=)" % USER, r.returncode == 0, r.stderr)

    systemd = os.path.isdir("/run/systemd/system")
    daemon = UnitDaemon() if systemd else ServiceDaemon(workdir)
    try:
        daemon.start()
    except LabError as e:
        check("day one: route-milter starts on the imported config (%s)" % ("systemctl" if systemd else "setpriv"),
              False, str(e))
        return
    if not systemd:
        record_pid(pidfile, daemon)
    check("day one: route-milter starts on the imported config (%s)" % ("systemctl" if systemd else "setpriv"), True)

    before = system_state()
    r = routectl("apply", "--dry-run")
    ours = "{ %s, default_action=tempfail }" % MILTER_ADDRESS
    check("day one: routectl apply --dry-run shows route-milter's milter in front of the admin's",
          r.returncode == 0 and re.search(r"(?m)^\+ smtpd_milters = %s, %s$" % (re.escape(ours), re.escape(other_entry)),
                                          r.stdout), r.stdout + r.stderr)
    check("day one: routectl apply --dry-run changes nothing (main.cf, master.cf, %s)" % MAPS,
          system_state() == before and not os.path.exists(MAPS), r.stdout)

    r = routectl("apply")
    check("day one: routectl apply writes %s, merges main.cf and reloads Postfix" % MAPS,
          r.returncode == 0 and "postfix: reloaded" in r.stdout and os.path.isfile(os.path.join(MAPS, "relay_recipients")),
          r.stdout + r.stderr)
    check("day one: no password in apply's output", hms.RELAY_PASSWORD not in r.stdout + r.stderr, "")
    milters = postconf("-h", "smtpd_milters")
    check("day one: smtpd_milters is route-milter's, then the admin's milter in its place",
          milters == "%s, %s" % (ours, other_entry), milters)
    check("day one: relay_domains keeps admin-relay.test", "admin-relay.test" in postconf("-h", "relay_domains"),
          postconf("-h", "relay_domains"))

    # Warn: Postfix takes the unlisted recipient, route-milter only logs it; the other milter is asked too.
    offset, other_offset = daemon.log_offset(), other.log_offset()
    replies = rcpt(lab, "bob@backup.example", "alice@backup.example", "anyone@admin-relay.test")
    check("day one, warn: unlisted <bob@backup.example> is accepted through Postfix, as are listed and admin's",
          [c for c, _ in replies] == [250, 250, 250], replies)
    try:
        wait_for(lambda: re.search(r"warn.*bob@backup\.example", daemon.log_text()[offset:]), 10, what="warn line")
    except LabError:
        pass
    check("day one, warn: route-milter logs <bob@backup.example> as a warning",
          re.search(r"warn.*bob@backup\.example", daemon.log_text()[offset:]), daemon.log_text()[offset:])
    try:
        wait_for(lambda: "anyone@admin-relay.test" in other.log_text()[other_offset:], 10, what="other milter")
    except LabError:
        pass
    check("day one, warn: the admin's other milter is called too",
          "anyone@admin-relay.test" in other.log_text()[other_offset:], other.log_text()[other_offset:])

    database = postconf("-h", "default_database_type")
    q = subprocess.run(["postmap", "-q", "[%s]:587" % RELAY_HOST, "%s:%s/tls_policy" % (database, MAPS)],
                       capture_output=True, text=True)
    check("day one: the AUTH route's host [%s]:587 has TLS policy encrypt (postmap -q)" % RELAY_HOST,
          q.stdout.strip() == "encrypt", q.stdout + q.stderr)

    applied = system_state()
    r = routectl("apply")
    check("day one: routectl apply again changes nothing",
          r.returncode == 0 and "no change" in r.stdout and system_state() == applied, r.stdout + r.stderr)

    # Enforce: Postfix's own relay_recipients refuse the unlisted recipient.
    edit_in_place(CONF, with_mode(imported, "enforce"))
    offset = daemon.log_offset()
    r = routectl("apply")
    check("day one, enforce: routectl apply", r.returncode == 0 and "postfix: reloaded" in r.stdout, r.stdout + r.stderr)
    reloaded = daemon.reload_after_apply(r, offset)
    check("day one, enforce: route-milter reloads the config", "reloaded" in reloaded and "fail" not in reloaded,
          reloaded)
    replies = rcpt(lab, "bob@backup.example", "alice@backup.example", "anyone@admin-relay.test")
    check("day one, enforce: unlisted <bob@backup.example> gets 550 5.1.1; listed and admin's still 250",
          [c for c, _ in replies] == [550, 250, 250] and replies[0][1].startswith("5.1.1"), replies)
    other_offset = other.log_offset()
    replies = rcpt(lab, "carol@admin-relay.test")
    try:
        wait_for(lambda: "carol@admin-relay.test" in other.log_text()[other_offset:], 10, what="other milter")
    except LabError:
        pass
    check("day one, enforce: the admin's relay domain receives, through the other milter still in place",
          [c for c, _ in replies] == [250] and "carol@admin-relay.test" in other.log_text()[other_offset:]
          and postconf("-h", "smtpd_milters") == milters, "%r\n%s" % (replies, postconf("-h", "smtpd_milters")))
    if systemd:
        daemon.stop()


def main():
    if len(sys.argv) != 2:
        print("usage: day_one.py PIDFILE", file=sys.stderr)
        return 2
    # A SIGTERM (timeout) must still stop Postfix and the daemons.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    workdir = tempfile.mkdtemp(prefix="route-milter-day-one-")
    os.chmod(workdir, 0o755)
    try:
        walkthrough(workdir, sys.argv[1])
    except Exception as e:  # noqa: BLE001 - report, then clean up
        check("day_one.py ran to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        cleanup_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if postfix_rcpt.failures else 0


if __name__ == "__main__":
    sys.exit(main())
