"""Faults and security: route-milter must lose nothing and leak nothing (issue 6).

Own private Postfix (short milter timeouts) and route-milter instances; run as root:
    ROUTE_MILTER=build/route-milter ROUTECTL=build/routectl python3 tests/integration/test_faults.py
"""

import contextlib
import grp
import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab import LabError, Milter, PostfixLab, cleanup_all, milter_binary, wait_for  # noqa: E402
import suite_runner  # noqa: E402

USER = "postfix"
SENDER = "someone@outside.example"
PASSWORD = "Sup3r-Secret-Route-Pw"
LAB = None


def routectl_binary():
    return os.path.abspath(os.environ.get("ROUTECTL") or os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "routectl"))


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def config(socket_spec, listed=("alice@backup.test",), extra=""):
    return """\
milter = { socket = "%s"; user = "%s"; };
routes = (
  { domain = "backup.test"; treat_recipient_as = "local"; deliver_to = "listed";
    addresses = [ %s ]; },
  { domain = "partner.test"; host = "mx.partner.test"; treat_recipient_as = "external";
    auth = { user = "relay"; password = "%s"; }; }%s
);
""" % (socket_spec, USER, ", ".join('"%s"' % a for a in listed), PASSWORD, extra)


def setUpModule():
    global LAB
    # milter_command_timeout 3 s: the "slow milter" test need not wait long.
    LAB = PostfixLab(extra_main={"milter_command_timeout": "3s", "milter_connect_timeout": "3s"})
    LAB.start()


def tearDownModule():
    cleanup_all()


class FaultCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="route-milter-faults-", dir=LAB.dir)
        os.chmod(self.dir, 0o755)
        self.spec = "unix:" + os.path.join(self.dir, "m.sock")
        self.milter = Milter(self.dir, config(self.spec), socket_spec=self.spec, user=USER)
        self.milter.start()
        LAB.set_milter(self.milter.postfix_socket)

    def tearDown(self):
        with contextlib.suppress(Exception):
            os.kill(self.milter.proc.pid, signal.SIGCONT)
        self.milter.stop()

    def assertNoAccept(self, t):
        self.assertFalse(any(200 <= c < 300 for c in t.rcpt_codes), "accepted: %r" % (t,))

    def check_old_policy(self):
        t = LAB.transaction(SENDER, ["alice@backup.test", "carol@backup.test"])
        self.assertEqual(t.rcpt_codes, [250, 550], repr(t))

    def reloaded_or_failed(self, offset):
        wait_for(lambda: re.search(r"reloaded |reload failed", self.milter.log_text()[offset:]), 10,
                 what="reload outcome in the milter log")
        return self.milter.log_text()[offset:]


class KillAndSlowTests(FaultCase):
    def test_sigkill_mid_transaction_tempfails_then_restart_works(self):
        s = LAB.session()
        try:
            t = LAB.transaction(SENDER, ["alice@backup.test"], smtp=s)
            self.assertEqual(t.rcpt_codes, [250], repr(t))
            self.assertEqual(s.docmd("MAIL FROM:<%s>" % SENDER)[0], 250)
            os.kill(self.milter.proc.pid, signal.SIGKILL)
            self.milter.proc.wait(timeout=5)
            for rcpt in ("carol@backup.test", "alice@backup.test"):
                code, msg = s.docmd("RCPT TO:<%s>" % rcpt)
                self.assertTrue(400 <= code < 500, "RCPT %s after SIGKILL: %r %r" % (rcpt, code, msg))
        finally:
            with contextlib.suppress(Exception):
                s.close()
        self.milter.stop()
        # The socket file is left behind by SIGKILL: a restart must replace it.
        self.assertTrue(os.path.exists(self.spec[5:]))
        self.milter.start()
        t = LAB.transaction(SENDER, ["alice@backup.test", "carol@backup.test"])
        self.assertEqual(t.rcpt_codes, [250, 550], repr(t))

    def test_milter_slower_than_postfix_timeout_tempfails(self):
        s = LAB.session()
        try:
            self.assertEqual(s.docmd("MAIL FROM:<%s>" % SENDER)[0], 250)
            os.kill(self.milter.proc.pid, signal.SIGSTOP)  # alive but silent: slower than any timeout
            t0 = time.monotonic()
            code, msg = s.docmd("RCPT TO:<carol@backup.test>")
            self.assertTrue(400 <= code < 500, "RCPT with a stopped milter: %r %r" % (code, msg))
            self.assertGreaterEqual(time.monotonic() - t0, 2.5)  # Postfix waited for its 3 s timeout
        finally:
            os.kill(self.milter.proc.pid, signal.SIGCONT)
            with contextlib.suppress(Exception):
                s.close()
        t = LAB.transaction(SENDER, ["carol@backup.test", "alice@backup.test"])
        self.assertEqual(t.rcpt_codes, [550, 250], repr(t))


class BadReloadTests(FaultCase):
    def bad_reload(self, damage, why):
        offset = self.milter.log_offset()
        damage()
        self.milter.reload()
        log = self.reloaded_or_failed(offset)
        lines = [l for l in log.splitlines() if "reload failed" in l]
        self.assertEqual(len(lines), 1, log)
        self.assertIn("keeping the running policy", lines[0])
        self.assertRegex(lines[0], why)
        self.assertNotIn("reloaded", log)
        self.assertTrue(self.milter.running())
        self.check_old_policy()

    def test_config_removed(self):
        self.bad_reload(lambda: os.unlink(self.milter.conf), r"m\.conf|milter\.conf.*cannot read")

    def test_config_unreadable(self):
        self.bad_reload(lambda: os.chmod(self.milter.conf, 0), r"cannot read")

    def test_config_truncated_mid_write(self):
        text = config(self.spec, listed=("carol@backup.test",))
        def truncate():
            with open(self.milter.conf, "w") as f:
                f.write(text[: text.index("carol") + 3])
        self.bad_reload(truncate, r":\d+: syntax error")

    # Issue 9: libconfig 1.5 exit()s on an @include of a directory and blocks on a FIFO; the
    # loader checks every included file first. Each: the daemon keeps running the old policy, the
    # one log line names the @include (file:line and name), and -t / routectl check exit 78.
    def add_include(self, name):
        text = read(self.milter.conf) + '@include "%s"\n' % name
        line = text.count("\n")
        self.milter.write_config(text)
        return line

    def bad_include(self, name, make, why):
        path = os.path.join(self.dir, name)
        line = [None]
        def damage():
            make(path)
            line[0] = self.add_include(name)
        self.bad_reload(damage, r"%s:\d+: @include \"%s\" \(%s\): %s" % (
            re.escape(self.milter.conf), re.escape(name), re.escape(path), why))
        expected = r"%s:%d: @include \"%s\" \(%s\): %s" % (
            re.escape(self.milter.conf), line[0], re.escape(name), re.escape(path), why)
        self.assertRegex(self.milter.log_text(), expected)
        for argv in ([milter_binary(), "-t", "-c", self.milter.conf],
                     [routectl_binary(), "check", "-c", self.milter.conf]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 78, (argv, r.stdout, r.stderr))
            self.assertRegex(r.stderr, expected)

    def test_include_of_a_directory(self):
        self.bad_include("d", os.mkdir, r"not a regular file \(a directory\)")

    def test_include_of_a_fifo(self):
        self.bad_include("f", os.mkfifo, r"not a regular file \(a FIFO\)")

    def test_include_of_a_missing_file(self):
        self.bad_include("gone.conf", lambda path: None, r"cannot read the file \(No such file or directory\)")

    def test_good_reload_after_bad_one(self):
        self.bad_reload(lambda: os.unlink(self.milter.conf), r"cannot read")
        offset = self.milter.log_offset()
        self.milter.write_config(config(self.spec, listed=("carol@backup.test",)))
        self.milter.reload()
        self.assertIn("reloaded", self.reloaded_or_failed(offset))
        t = LAB.transaction(SENDER, ["alice@backup.test", "carol@backup.test"])
        self.assertEqual(t.rcpt_codes, [550, 250], repr(t))


class SecurityTests(FaultCase):
    def test_runs_as_milter_user_without_capabilities(self):
        status = read("/proc/%d/status" % self.milter.proc.pid)
        uid = pwd.getpwnam(USER).pw_uid
        gid = pwd.getpwnam(USER).pw_gid
        self.assertRegex(status, r"(?m)^Uid:\s+%d\s+%d\s+%d\s+%d$" % (uid, uid, uid, uid))
        self.assertRegex(status, r"(?m)^Gid:\s+%d\s+%d\s+%d\s+%d$" % (gid, gid, gid, gid))
        for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            self.assertRegex(status, r"(?m)^%s:\s+0+$" % cap)

    def test_socket_mode_and_group(self):
        st = os.stat(self.spec[5:])
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_gid, pwd.getpwnam(USER).pw_gid)
        self.assertEqual(st.st_uid, pwd.getpwnam(USER).pw_uid)

    def start_second(self, spec):
        return subprocess.run([milter_binary(), "-c", self.milter.conf, "-i", self.milter.conf + ".image", "-p", spec,
                               "-l", "stderr"],
                              capture_output=True, text=True, timeout=20)

    def test_path_that_is_not_a_socket_is_refused(self):
        path = os.path.join(self.dir, "not-a-socket")
        with open(path, "w") as f:
            f.write("precious\n")
        r = self.start_second("unix:" + path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("exists and is not a socket; refusing to replace it", r.stderr)
        self.assertEqual(read(path), "precious\n")

    def test_socket_in_use_is_refused(self):
        r = self.start_second(self.spec)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("another process is listening on", r.stderr)
        t = LAB.transaction(SENDER, ["carol@backup.test"])  # the first one still serves
        self.assertEqual(t.rcpt_codes, [550], repr(t))

    def test_stale_socket_is_replaced(self):
        path = os.path.join(self.dir, "stale.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()  # a socket file nobody listens on
        m = Milter(self.dir, socket_spec="unix:" + path, name="stale", user=USER)
        m.write_config(config("unix:" + path))
        m.start()
        try:
            self.assertTrue(m.running())
            c = socket.socket(socket.AF_UNIX)
            c.connect(path)
            c.close()
        finally:
            m.stop()

    def test_world_readable_password_config_is_refused(self):
        os.chmod(self.milter.conf, 0o644)
        r = subprocess.run([milter_binary(), "-t", "-c", self.milter.conf], capture_output=True, text=True)
        self.assertEqual(r.returncode, 78)
        self.assertIn("holds route passwords but other users can read it", r.stderr)
        r = subprocess.run([routectl_binary(), "check", "-c", self.milter.conf], capture_output=True, text=True)
        self.assertEqual(r.returncode, 78)
        # ... and a reload keeps the running policy.
        offset = self.milter.log_offset()
        self.milter.reload()
        self.assertIn("holds route passwords", self.reloaded_or_failed(offset))
        os.chmod(self.milter.conf, 0o600)

    def refused_everywhere(self, why, secrets=()):
        """-t and routectl check exit 78 saying `why`; a reload keeps the running policy. None of
        them shows the password or any of `secrets`."""
        for argv in ([milter_binary(), "-t", "-c", self.milter.conf],
                     [routectl_binary(), "check", "-c", self.milter.conf]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 78, (argv, r.stdout, r.stderr))
            self.assertRegex(r.stderr, why)
            for secret in (PASSWORD,) + tuple(secrets):
                self.assertNotIn(secret, r.stdout + r.stderr)
        offset = self.milter.log_offset()
        self.milter.reload()
        log = self.reloaded_or_failed(offset)
        self.assertRegex(log, why)
        self.assertNotIn("reloaded", log)
        for secret in (PASSWORD,) + tuple(secrets):
            self.assertNotIn(secret, log)

    def test_a_list_cannot_show_another_file(self):
        # Issue 24: the list is delegated to nobody (their file, in root's directory); they swap in
        # a link to the config (the daemon's user may read it) or to a file only root may read
        # (routectl check runs as root), or keep a directory of their own with a hard link in it.
        # No link is followed and no foreign file is read: by the daemon, -t or routectl check.
        nobody = pwd.getpwnam("nobody")
        lists = os.path.join(self.dir, "lists")
        os.mkdir(lists, 0o755)
        listed = os.path.join(lists, "backup.list")
        with open(listed, "w") as f:
            f.write("alice@backup.test\n")
        os.chmod(listed, 0o644)
        os.chown(listed, nobody.pw_uid, nobody.pw_gid)
        shadow = os.path.join(self.dir, "shadow")
        secret = "root:$6$SaltOfRoot$HashOfRootsPassword:19000:0:99999:7:::"
        with open(shadow, "w") as f:
            f.write(secret + "\n")
        os.chmod(shadow, 0o600)
        text = config(self.spec).replace('addresses = [ "alice@backup.test" ];', 'addresses_file = "%s";' % listed)
        self.milter.write_config(text)
        offset = self.milter.log_offset()
        self.milter.reload()
        self.assertIn("reloaded", self.reloaded_or_failed(offset))  # the delegated list is read
        self.check_old_policy()
        for target in (self.milter.conf, shadow, os.path.relpath(shadow, lists)):
            with self.subTest(target):
                os.unlink(listed)
                os.symlink(target, listed)
                os.lchown(listed, nobody.pw_uid, nobody.pw_gid)
                self.refused_everywhere(re.escape("routes[0].addresses_file: a symbolic link (%s) made by nobody "
                                                  "(uid %d)" % (listed, nobody.pw_uid)), ["SaltOfRoot", "19000"])
                self.check_old_policy()
        own = os.path.join(self.dir, "nobody")
        os.mkdir(own, 0o755)
        os.chown(own, nobody.pw_uid, nobody.pw_gid)
        os.link(shadow, os.path.join(own, "backup.list"))
        self.milter.write_config(text.replace(listed, os.path.join(own, "backup.list")))
        self.refused_everywhere(re.escape("routes[0].addresses_file: its directory (%s) belongs to nobody (uid %d) and "
                                          "the file to root (uid 0)" % (own, nobody.pw_uid)), ["SaltOfRoot", "19000"])
        self.check_old_policy()
        self.assertTrue(self.milter.running())
        t = LAB.transaction(SENDER, ["alice@backup.test", "carol@backup.test"])
        self.assertEqual(t.rcpt_codes, [250, 550], repr(t))

    def test_world_readable_password_in_an_include_is_refused(self):
        # Issue 9: the main file is 0600, the password sits in a 0644 include.
        secret = os.path.join(self.dir, "secret.conf")
        text = config(self.spec)
        head, partner = text.split('  { domain = "partner.test"')
        with open(secret, "w") as f:
            f.write('  { domain = "partner.test"' + partner.replace("\n);\n", "\n"))
        os.chmod(secret, 0o644)
        self.milter.write_config(head + '@include "secret.conf"\n);\n')
        self.refused_everywhere(re.escape(secret) + r": holds route passwords but other users can read it; "
                                r"run chmod o-rwx \(mode 0644\)")
        os.chmod(secret, 0o640)
        os.chown(secret, 0, pwd.getpwnam(USER).pw_gid)  # root:group, like the Debian package's conffile
        r = subprocess.run([routectl_binary(), "check", "-v", "-c", self.milter.conf], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("partner.test", r.stdout)

    def test_config_others_can_write_is_refused(self):
        # Issue 9: a local user who may write the config could open the relay or collect the password.
        for mode in (0o602, 0o620):
            os.chmod(self.milter.conf, mode)
            self.refused_everywhere(re.escape(self.milter.conf) + r": group or other users can write it; "
                                    r"run chmod go-w \(mode 0%o\)" % mode)
        os.chmod(self.milter.conf, 0o600)

    def test_no_password_in_logs_or_summaries(self):
        LAB.transaction(SENDER, ["carol@backup.test", "x@partner.test"])
        offset = self.milter.log_offset()
        self.milter.reload()
        self.reloaded_or_failed(offset)
        check = subprocess.run([routectl_binary(), "check", "-v", "-c", self.milter.conf],
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("auth user relay (password hidden)", check.stdout)
        query = subprocess.run([routectl_binary(), "query", "-c", self.milter.conf, "--client", "192.0.2.1",
                                "x@partner.test"], capture_output=True, text=True)
        for text in (self.milter.log_text(), check.stdout, check.stderr, query.stdout, LAB.log_text()):
            self.assertNotIn(PASSWORD, text)

    def test_sasl_passwd_is_0600_whatever_the_umask(self):
        out = os.path.join(self.dir, "maps")
        r = subprocess.run([routectl_binary(), "postfix", "-c", self.milter.conf, "-o", out],
                           capture_output=True, text=True, preexec_fn=lambda: os.umask(0))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(out, "sasl_passwd")).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(out, "transport")).st_mode), 0o644)
        self.assertIn(PASSWORD, read(os.path.join(out, "sasl_passwd")))
        for name in os.listdir(out):
            if name != "sasl_passwd":
                self.assertNotIn(PASSWORD, read(os.path.join(out, name)), name)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)


class CheckReportTests(unittest.TestCase):
    """Issue 9: one run of -t / routectl check reports the loader's and the compiler's errors."""

    def test_duplicate_address_and_bad_port_in_one_run(self):
        work = tempfile.mkdtemp(prefix="route-milter-check-", dir=LAB.dir)
        conf = os.path.join(work, "two.conf")
        with open(conf, "w") as f:
            f.write('routes = (\n'
                    '  { domain = "backup.test"; deliver_to = "listed";\n'
                    '    addresses = [ "alice@backup.test",\n'
                    '                  "Alice@backup.test" ]; },\n'
                    '  { domain = "partner.test"; host = "mx.partner.test";\n'
                    '    port = 99999; }\n'
                    ');\n')
        os.chmod(conf, 0o600)
        for argv in ([milter_binary(), "-t", "-c", conf], [routectl_binary(), "check", "-c", conf],
                     [routectl_binary(), "postfix", "-c", conf, "-o", os.path.join(work, "maps")]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 78, (argv, r.stdout, r.stderr))
            self.assertIn(conf + ":4: routes: address listed twice", r.stderr)
            self.assertIn(conf + ":6: routes[1].port: out of range 1..65535 (99999)", r.stderr)
            self.assertIn("2 error(s)", r.stderr)


class CheckAgreementTests(unittest.TestCase):
    """Issue 10: route-milter -t and routectl check run one check and give one exit code."""

    PASSWORD_ROUTE = 'routes = ( { domain = "p.test"; host = "mx.p.test"; auth = { user = "u"; password = "pw"; }; } );\n'

    def cases(self, work):
        """(name, file, expected exit code) for each config of the set."""
        def write(name, text, mode=0o600):
            path = os.path.join(work, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, mode)
            return path
        shipped = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "conf", "route-milter.conf")
        os.mkdir(os.path.join(work, "a-directory"))
        return [
            ("good: the shipped config", write("shipped.conf", read(shipped)), 0),
            ("good: an existing milter.user", write("user.conf", 'milter = { user = "%s"; };\n' % USER), 0),
            ("good: an include", (write("part.conf", 'scope = "all";\n'),
                                  write("include.conf", '@include "part.conf"\n'))[1], 0),
            ("bad syntax", write("syntax.conf", "routes = ( { domain = ; } );\n"), 78),
            ("bad user", write("baduser.conf", 'scope = "all";\nmilter = {\n  user = "no-such-user-rm10";\n};\n'), 78),
            ("bad include: missing", write("missing.conf", '@include "not-there.conf"\n'), 78),
            ("bad include: a directory", write("dir.conf", '@include "a-directory"\n'), 78),
            ("world-readable password", write("readable.conf", self.PASSWORD_ROUTE, 0o644), 78),
            ("others may write", write("writable.conf", 'scope = "all";\n', 0o602), 78),
            ("bad socket", write("socket.conf", 'milter = { socket = "inet:http@127.0.0.1"; };\n'), 78),
            ("bad port and duplicate address", write("two.conf",
                'routes = ( { domain = "b.test"; deliver_to = "listed"; addresses = [ "a@b.test", "A@b.test" ]; },\n'
                '           { domain = "c.test"; host = "mx.c.test"; port = 0; } );\n'), 78),
            ("no such file", os.path.join(work, "absent.conf"), 78),
        ]

    def test_same_exit_code_on_every_config(self):
        work = tempfile.mkdtemp(prefix="route-milter-agree-")
        for name, conf, expected in self.cases(work):
            with self.subTest(name):
                t = subprocess.run([milter_binary(), "-t", "-c", conf], capture_output=True, text=True, timeout=20)
                c = subprocess.run([routectl_binary(), "check", "-c", conf], capture_output=True, text=True, timeout=20)
                self.assertEqual((t.returncode, c.returncode), (expected, expected),
                                 "%s\n-t: %s%s\ncheck: %s%s" % (name, t.stdout, t.stderr, c.stdout, c.stderr))

    def test_unknown_user_is_reported_at_its_line_by_both(self):
        work = tempfile.mkdtemp(prefix="route-milter-agree-")
        conf = [c for name, c, _ in self.cases(work) if name == "bad user"][0]
        for argv in ([milter_binary(), "-t", "-c", conf], [routectl_binary(), "check", "-c", conf]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 78, (argv, r.stdout, r.stderr))
            self.assertIn(conf + ':3: milter.user: no such user ("no-such-user-rm10")', r.stderr)
        # -u names the user instead: the config's user is not asked for, -u's is.
        r = subprocess.run([milter_binary(), "-t", "-u", USER, "-c", conf], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([milter_binary(), "-t", "-u", "no-such-user-rm10b", "-c", conf], capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn('-u: no such user ("no-such-user-rm10b")', r.stderr)


class SystemdNotifyTests(unittest.TestCase):
    """Type=notify: READY=1 only once the socket listens; reloads are announced."""

    def test_ready_after_listen_and_reload_notices(self):
        work = tempfile.mkdtemp(prefix="route-milter-notify-", dir=LAB.dir)
        os.chmod(work, 0o755)
        notify_path = os.path.join(work, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        # The daemon drops to USER before it reloads (and removes its socket at the end): the
        # directory is USER's, not one that everyone may write (no config is read from such).
        os.chown(work, pwd.getpwnam(USER).pw_uid, pwd.getpwnam(USER).pw_gid)
        os.chmod(notify_path, 0o777)
        notify.settimeout(10)
        spec = "unix:" + os.path.join(work, "m.sock")
        conf = os.path.join(work, "m.conf")
        with open(conf, "w") as f:
            f.write(config(spec))
        os.chmod(conf, 0o600)
        os.chown(conf, pwd.getpwnam(USER).pw_uid, pwd.getpwnam(USER).pw_gid)
        proc = subprocess.Popen([milter_binary(), "-c", conf, "-i", conf + ".image", "-p", spec, "-l", "stderr"],
                                env=dict(os.environ, NOTIFY_SOCKET=notify_path),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ready = notify.recv(4096).decode()
            # systemctl reload may come the instant READY is out: it must reload, not kill.
            proc.send_signal(signal.SIGHUP)
            self.assertIn("READY=1", ready)
            self.assertIn("STATUS=listening on " + spec, ready)
            c = socket.socket(socket.AF_UNIX)  # READY means: the socket already accepts
            c.connect(spec[5:])
            c.close()
            self.assertEqual(notify.recv(4096).decode(), "RELOADING=1")
            self.assertIn("READY=1\nSTATUS=running the reloaded config", notify.recv(4096).decode())
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(notify.recv(4096).decode(), "STOPPING=1")
            self.assertEqual(proc.wait(timeout=15), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            notify.close()


class OutputFaultTests(unittest.TestCase):
    """routectl postfix when it cannot write: non-zero, clear error, old files untouched."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="route-milter-out-", dir=LAB.dir)
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "r.conf")
        self.write_conf(1)

    def write_conf(self, addresses, host="mx.backup.test"):
        listed = ", ".join('"user%d@backup.test"' % i for i in range(addresses))
        with open(self.conf, "w") as f:
            f.write('routes = ( { domain = "backup.test"; host = "%s"; treat_recipient_as = "local";'
                    ' deliver_to = "listed"; addresses = [ %s ]; } );\n' % (host, listed))
        os.chmod(self.conf, 0o644)

    def snapshot(self, out):
        return {n: (read(os.path.join(out, n), "rb"), os.stat(os.path.join(out, n)).st_mtime_ns)
                for n in sorted(os.listdir(out))}

    def routectl(self, out, user=None, postmap=None, database_type=None):
        argv = [routectl_binary(), "postfix", "-c", self.conf, "-o", out]
        if postmap:
            argv += ["--postmap", "--postfix-config", postmap]
        if database_type:
            argv += ["--database-type", database_type]
        if user:
            argv = ["runuser", "-u", user, "--"] + argv
        return subprocess.run(argv, capture_output=True, text=True)

    def test_unwritable_directory(self):
        out = os.path.join(self.dir, "maps")
        self.assertEqual(self.routectl(out).returncode, 0)
        before = self.snapshot(out)
        self.write_conf(3)
        r = self.routectl(out, user="nobody")
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"cannot create .*Permission denied.*no file in .* was changed")
        self.assertEqual(self.snapshot(out), before)

    def test_disk_full(self):
        out = os.path.join(self.dir, "tiny")
        os.mkdir(out)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", out]).returncode != 0:
            self.skipTest("cannot mount a tmpfs here")
        try:
            self.assertEqual(self.routectl(out).returncode, 0)
            before = self.snapshot(out)
            self.write_conf(20000)  # relay_recipients alone is far above 64 kB
            r = self.routectl(out)
            self.assertNotEqual(r.returncode, 0)
            self.assertRegex(r.stderr, r"cannot write .*No space left on device.*no file in .* was changed")
            self.assertEqual(self.snapshot(out), before)
            self.assertEqual([n for n in os.listdir(out) if ".tmp." in n], [])
        finally:
            subprocess.run(["umount", out])

    def test_disk_full_while_streaming_an_address_file(self):
        # relay_recipients (Postfix) and the access map (Sendmail) are streamed from the address
        # store: the disk fills after the first chunks went out, and every old file stays.
        addresses = os.path.join(self.dir, "backup.list")
        conf = os.path.join(self.dir, "files.conf")
        with open(conf, "w") as f:
            f.write('routes = ( { domain = "backup.test"; host = "mx.backup.test"; treat_recipient_as = "local";'
                    ' deliver_to = "listed"; addresses_file = "backup.list"; } );\n')
        os.chmod(conf, 0o644)

        def write_list(count):
            with open(addresses, "w") as f:
                f.write("".join("user%d@backup.test\n" % i for i in range(count)))

        for mta in ("postfix", "sendmail"):
            out = os.path.join(self.dir, "tiny-" + mta)
            os.mkdir(out)
            if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", out]).returncode != 0:
                self.skipTest("cannot mount a tmpfs here")
            try:
                write_list(100)
                run = lambda: subprocess.run([routectl_binary(), mta, "-c", conf, "-o", out],  # noqa: E731
                                             capture_output=True, text=True)
                r = run()
                self.assertEqual(r.returncode, 0, r.stderr)
                before = self.snapshot(out)
                write_list(50000)  # about 1 MB of lines, several 64 kB chunks fit before the disk is full
                r = run()
                self.assertEqual(r.returncode, 73, r.stdout + r.stderr)  # EX_CANTCREAT
                self.assertRegex(r.stderr, r"cannot write .*No space left on device.*no file in .* was changed")
                self.assertEqual(self.snapshot(out), before, mta)
                self.assertEqual([n for n in os.listdir(out) if ".tmp." in n], [], mta)
            finally:
                subprocess.run(["umount", out])

    def full_snapshot(self, out):
        """Every name in out: bytes (files), inode, mode and mtime; a directory by its listing."""
        snap = {}
        for n in sorted(os.listdir(out)):
            p = os.path.join(out, n)
            st = os.lstat(p)
            content = sorted(os.listdir(p)) if stat.S_ISDIR(st.st_mode) else read(p, "rb")
            snap[n] = (content, st.st_ino, st.st_mode, st.st_mtime_ns)
        return snap

    def test_failure_after_renames_puts_every_old_file_back(self):
        # The last file to be renamed (main.cf.snippet) is a non-empty directory: its rename fails
        # after the changed maps and their .db files were renamed into place; all must be undone.
        out, control = os.path.join(self.dir, "maps"), os.path.join(self.dir, "control")
        for d in (out, control):
            r = self.routectl(d, postmap=LAB.config_dir)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.write_conf(3, host="mx2.backup.test")
        # What a run that succeeds renames, in order: at least two files, .db files among them, before main.cf.snippet.
        r = self.routectl(control, postmap=LAB.config_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        renamed = [line.split()[0] for line in r.stdout.splitlines() if line.split()[1] in ("written", "postmap")]
        self.assertGreaterEqual(len([n for n in renamed if n != "main.cf.snippet"]), 2, r.stdout)
        self.assertTrue(any(n.endswith(".db") for n in renamed), r.stdout)
        snippet = os.path.join(out, "main.cf.snippet")
        os.unlink(snippet)
        os.mkdir(snippet)
        with open(os.path.join(snippet, "keep"), "w") as f:
            f.write("not empty\n")
        before = self.full_snapshot(out)
        time.sleep(0.02)  # a rewrite would show in mtime_ns
        r = self.routectl(out, postmap=LAB.config_dir)
        self.assertEqual(r.returncode, 73, r.stdout + r.stderr)  # EX_CANTCREAT
        self.assertRegex(r.stderr, r"^routectl: cannot rename into place %s: Is a directory; no file in %s was "
                                   r"changed\n$" % (re.escape(snippet), re.escape(out)))
        self.assertEqual(r.stdout, "")
        self.assertEqual(self.full_snapshot(out), before)

    def test_replaced_files_keep_owner_group_and_mode(self):
        # Postfix reads sasl_passwd.db as root, but an admin may have handed the maps to a group:
        # every replaced file (map and .db) keeps its owner, group and mode, less write for group
        # and others and, for the credentials, anything for others.
        conf = os.path.join(self.dir, "auth.conf")

        def write_conf(host):
            with open(conf, "w") as f:
                f.write(config("unix:/run/x.sock").replace("mx.partner.test", host))
            os.chmod(conf, 0o600)

        write_conf("mx.partner.test")
        out = os.path.join(self.dir, "maps")
        argv = [routectl_binary(), "postfix", "-c", conf, "-o", out, "--postmap", "--postfix-config", LAB.config_dir]
        r = subprocess.run(argv, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        mail, postfix = grp.getgrnam("mail").gr_gid, grp.getgrnam("postfix").gr_gid
        nobody = pwd.getpwnam("nobody").pw_uid
        given = {  # name: (owner, group, mode before, mode after)
            "sasl_passwd": (0, postfix, 0o640, 0o640), "sasl_passwd.db": (0, postfix, 0o644, 0o640),
            "transport": (nobody, mail, 0o664, 0o644), "transport.db": (0, mail, 0o600, 0o600),
            "tls_policy": (0, mail, 0o4755, 0o755), "main.cf.snippet": (0, mail, 0o600, 0o600)}
        for name, (uid, gid, before, _) in given.items():
            os.chown(os.path.join(out, name), uid, gid)
            os.chmod(os.path.join(out, name), before)
        write_conf("mx2.partner.test")  # changes transport, sasl_passwd, tls_policy and their .db
        r = subprocess.run(argv, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("transport", "sasl_passwd", "tls_policy"):
            self.assertRegex(r.stdout, r"(?m)^%s +written$" % name)
            self.assertRegex(r.stdout, r"(?m)^%s\.db +postmap$" % name)
        for name, (uid, gid, before, after) in given.items():
            st = os.stat(os.path.join(out, name))
            self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (uid, gid, after), name)
            if before != after and not name.endswith(".snippet"):
                self.assertIn("note: %s/%s: mode %04o of the old file given as %04o" % (out, name, before, after),
                              r.stderr)
        self.assertIn("mx2.partner.test", read(os.path.join(out, "sasl_passwd")))
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        # Kept as they are now: the next run changes nothing.
        before = self.full_snapshot(out)
        r = subprocess.run(argv, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("written", r.stdout)
        self.assertEqual(self.full_snapshot(out), before)

    def test_a_symbolic_link_in_place_of_a_file_is_refused(self):
        out = os.path.join(self.dir, "maps")
        self.assertEqual(self.routectl(out).returncode, 0)
        target = os.path.join(self.dir, "elsewhere")
        with open(target, "w") as f:
            f.write("# not routectl's\n")
        os.unlink(os.path.join(out, "transport"))
        os.symlink(target, os.path.join(out, "transport"))
        before = self.full_snapshot(out)
        r = self.routectl(out)
        self.assertEqual(r.returncode, 73, r.stdout + r.stderr)
        self.assertIn("%s/transport is a symbolic link: routectl replaces a file, not a link" % out, r.stderr)
        self.assertIn("no file in %s was changed" % out, r.stderr)
        self.assertEqual(self.full_snapshot(out), before)
        self.assertEqual(read(target), "# not routectl's\n")

    def test_failing_postmap_changes_no_file(self):
        # postmap fails (no main.cf in its -c directory) after the new maps were written: the
        # maps and .db files stay the old ones, as the message says (not new maps, old .db files).
        out = os.path.join(self.dir, "maps")
        r = self.routectl(out, postmap=LAB.config_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        before = self.full_snapshot(out)
        self.write_conf(3, host="mx2.backup.test")
        time.sleep(0.02)
        missing = os.path.join(self.dir, "no-postfix-here")
        r = self.routectl(out, postmap=missing, database_type="hash")  # the type given: postconf is not needed
        self.assertEqual(r.returncode, 70, r.stdout + r.stderr)  # EX_SOFTWARE, as before
        self.assertRegex(r.stderr, r"postmap -c %s hash:%s/transport\.tmp\.\w+ failed: .*main\.cf.*; no file in %s "
                                   r"was changed" % (re.escape(missing), re.escape(out), re.escape(out)))
        self.assertEqual(self.full_snapshot(out), before)


CLASS_ORDER = [KillAndSlowTests, BadReloadTests, SecurityTests, CheckReportTests, CheckAgreementTests, SystemdNotifyTests,
               OutputFaultTests]

if __name__ == "__main__":
    sys.exit(suite_runner.run(sys.modules[__name__], "faults", CLASS_ORDER, cleanup_all))
