"""Day one on a Postfix that has a life of its own: import an hMailServer backup, `routectl apply`,
rehearse in warn mode, enforce.

The lab Postfix already runs another milter (a route-milter of its own in warn mode, which logs
every recipient it is asked about) and relays a domain of its own (admin-relay.test, no recipient
list). `routectl apply` must keep both: the other milter is still called, in its place, and the
admin's relay domain still takes every recipient; it must show a diff, change nothing with
--dry-run or when run twice, and leave main.cf and the maps byte for byte as they were when
`postfix check` fails. Run as root:

    ROUTECTL=build/routectl ROUTE_MILTER=build/route-milter tests/integration/run.sh DayOneTests
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab import Milter, PostfixLab, LabError, cleanup_all, free_port, wait_for  # noqa: E402
from lab_relay import POSTMAP, run_routectl  # noqa: E402
import suite_runner  # noqa: E402
import test_hmailserver as hms  # noqa: E402

TMP = None
SENDER = "someone@sender.example"
RELAY_HOST = "smarthost.example"

# The backup: a backup MX for one listed mailbox, and a route with SMTP AUTH and hMailServer's
# ConnectionSecurity "none"; hMailServer's Internet range (external -> local without AUTH).
BACKUP_ROUTES = [
    hms.route("backup.example", host="127.0.0.1", port=2525, all_addresses=False,
              addresses=["alice@backup.example"], rcpt_local=True),
    hms.route("auth.example", host=RELAY_HOST, port=587, auth=("relay", hms.RELAY_PASSWORD_HEX), security=0),
]
BACKUP_RANGES = [hms.security_range("Internet", "0.0.0.0", "255.255.255.255", 10, hms.INTERNET)]

# The admin's other milter: it refuses nothing (warn) and logs each recipient it is asked about.
OTHER_MILTER_CONF = """
mode = "warn";
scope = "all";
ip_ranges = ( { name = "nobody"; cidr = "0.0.0.0/0"; priority = 10; allow = [ ]; require_auth = [ ]; } );
"""


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tree_digest(directory):
    """Every file's bytes under directory (missing: empty)."""
    if not os.path.isdir(directory):
        return {}
    return {name: digest(os.path.join(directory, name)) for name in sorted(os.listdir(directory))
            if os.path.isfile(os.path.join(directory, name))}


def setUpModule():
    global TMP
    if os.geteuid() != 0:
        raise RuntimeError("the integration tests must run as root")
    TMP = tempfile.mkdtemp(prefix="route-apply-")
    os.chmod(TMP, 0o755)


def tearDownModule():
    global TMP
    cleanup_all()
    if TMP and not os.environ.get("LAB_KEEP"):
        shutil.rmtree(TMP, ignore_errors=True)
    TMP = None


class DayOneTests(unittest.TestCase):
    """The walkthrough, in order: one test, because each step builds on the one before."""

    @classmethod
    def setUpClass(cls):
        d = os.path.join(TMP, "day-one")
        os.makedirs(d)
        conf = os.path.join(d, "imported.conf")
        archive = hms.make_backup(d, hms.backup_xml(routes=BACKUP_ROUTES, ranges=BACKUP_RANGES, domains=[]))
        r = run_routectl("import-hmailserver", "-o", conf, archive)
        if r.returncode != 0:
            raise LabError("import failed: %s" % r.stderr)
        with open(conf, encoding="utf-8") as f:
            cls.imported = f.read()
        cls.maps = os.path.join(d, "maps")
        cls.other = Milter(os.path.join(d, "other"), config_text=OTHER_MILTER_CONF,
                           socket_spec="inet:%d@127.0.0.1" % free_port(), name="other")
        cls.milter = Milter(os.path.join(d, "milter"), config_text=cls.with_mode("warn"),
                            socket_spec="inet:%d@127.0.0.1" % free_port(), name="routes")
        cls.other.start()
        cls.milter.start()
        try:
            cls.lab = PostfixLab(milter="{ %s, default_action=accept }" % cls.other.postfix_socket,
                                 extra_main={"relay_domains": "admin-relay.test"}).start()
        except BaseException:
            cls.milter.stop()
            cls.other.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.stop()
        cls.milter.stop()
        cls.other.stop()

    @classmethod
    def with_mode(cls, mode):
        """The imported config with a top-level mode and the admin's relay domain as local."""
        text = re.sub(r'(?m)^mode = "[a-z]+";\n', "", cls.imported)
        text, n = re.subn(r"(?m)^local_domains = \[", 'local_domains = [ "admin-relay.test",', text, count=1)
        text = re.sub(r'"admin-relay.test",\s*\]', '"admin-relay.test" ]', text)
        if n == 0:
            text = 'local_domains = [ "admin-relay.test" ];\n' + text
        return 'mode = "%s";\n%s' % (mode, text)

    def apply(self, *extra):
        return run_routectl("apply", "-c", self.milter.conf, "-o", self.maps, "--postfix-config", self.lab.config_dir,
                            "--milter", self.milter.postfix_socket, *extra, timeout=120)

    def main_cf(self):
        return os.path.join(self.lab.config_dir, "main.cf")

    def rcpt(self, *recipients):
        return self.lab.rcpt_replies(SENDER, list(recipients))

    def wait_reloaded(self, offset):
        wait_for(lambda: "reloaded" in self.milter.log_text()[offset:] or "failed" in self.milter.log_text()[offset:],
                 30, what="milter reload")
        self.assertNotIn("failed", self.milter.log_text()[offset:])

    def test_walkthrough(self):
        before = digest(self.main_cf()), digest(os.path.join(self.lab.config_dir, "master.cf"))

        # --dry-run: the diff, and nothing changed.
        r = self.apply("--dry-run")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"(?m)^\+ smtpd_milters = \{ %s, default_action=tempfail \}, \{ %s, "
                         r"default_action=accept \}$" % (re.escape(self.milter.postfix_socket),
                                                        re.escape(self.other.postfix_socket)))
        self.assertRegex(r.stdout, r"(?m)^- relay_domains = admin-relay.test$")
        self.assertEqual((digest(self.main_cf()), digest(os.path.join(self.lab.config_dir, "master.cf"))), before)
        self.assertEqual(tree_digest(self.maps), {})
        self.assertNotIn(hms.RELAY_PASSWORD, r.stdout + r.stderr)

        # Apply: maps written, settings merged, Postfix reloaded.
        r = self.apply()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("postfix: reloaded", r.stdout)
        self.assertNotIn(hms.RELAY_PASSWORD, r.stdout + r.stderr)
        milters = self.lab.postconf("-h", "smtpd_milters").strip()
        self.assertEqual(milters, "{ %s, default_action=tempfail }, { %s, default_action=accept }" % (
            self.milter.postfix_socket, self.other.postfix_socket))
        self.assertIn("admin-relay.test", self.lab.postconf("-h", "relay_domains"))

        # Warn: Postfix takes the unlisted recipient, the milter logs what it would refuse, the
        # other milter is asked about it too, and the admin's relay domain still receives.
        offset, other_offset = self.milter.log_offset(), self.other.log_offset()
        self.assertEqual([c for c, _ in self.rcpt("bob@backup.example", "alice@backup.example",
                                                  "anyone@admin-relay.test")], [250, 250, 250])
        wait_for(lambda: "bob@backup.example" in self.milter.log_text()[offset:], 10, what="warn log line")
        self.assertRegex(self.milter.log_text()[offset:], r"warn.*bob@backup\.example")
        wait_for(lambda: "anyone@admin-relay.test" in self.other.log_text()[other_offset:], 10,
                 what="the other milter's log line")
        self.assertIn("bob@backup.example", self.other.log_text()[other_offset:])

        # A route with AUTH keeps TLS: its host's policy is "encrypt" (the import left security unset).
        q = subprocess.run([POSTMAP, "-c", self.lab.config_dir, "-q", "[%s]:587" % RELAY_HOST,
                            "%s:%s" % (self.lab.postconf("-h", "default_database_type").strip(),
                                       os.path.join(self.maps, "tls_policy"))],
                           capture_output=True, text=True)
        self.assertEqual(q.stdout.strip(), "encrypt", q.stderr)

        # Twice: nothing changes.
        applied = digest(self.main_cf()), tree_digest(self.maps)
        offset = self.milter.log_offset()
        r = self.apply()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("no change", r.stdout)
        self.assertIn("postfix: nothing changed, not reloaded", r.stdout)
        self.wait_reloaded(offset)
        self.assertEqual((digest(self.main_cf()), tree_digest(self.maps)), applied)

        # Enforce: apply reloads Postfix and the milter of this config (not the other one); the
        # unlisted recipient gets 550 from Postfix's own table; the rest still pass.
        self.milter.write_config(self.with_mode("enforce"))
        offset, other_offset = self.milter.log_offset(), self.other.log_offset()
        r = self.apply()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("postfix: reloaded", r.stdout)
        self.assertIn("route-milter: reloaded (pid %d)" % self.milter.proc.pid, r.stdout)
        self.wait_reloaded(offset)
        self.assertNotIn("reload", self.other.log_text()[other_offset:])
        replies = self.rcpt("bob@backup.example", "alice@backup.example", "anyone@admin-relay.test")
        self.assertEqual([c for c, _ in replies], [550, 250, 250], replies)
        other_offset = self.other.log_offset()
        self.assertEqual([c for c, _ in self.rcpt("carol@admin-relay.test")], [250])
        wait_for(lambda: "carol@admin-relay.test" in self.other.log_text()[other_offset:], 10,
                 what="the other milter still called")

    def copy_of_the_lab(self, name, mode="enforce"):
        """The lab's config directory copied, and a config file of the imported routes in `mode`."""
        d = os.path.join(TMP, name)
        config_dir = os.path.join(d, "etc")
        shutil.copytree(self.lab.config_dir, config_dir, ignore=shutil.ignore_patterns("sasl"))
        conf = os.path.join(d, "routes.conf")
        with open(conf, "w") as f:
            f.write(self.with_mode(mode))
        os.chmod(conf, 0o600)
        return d, config_dir, conf

    def test_a_failed_check_leaves_everything_as_it_was(self):
        """postfix check fails on the staged main.cf: main.cf, master.cf and the maps stay byte for byte."""
        d, config_dir, conf = self.copy_of_the_lab("broken", "warn")
        maps = os.path.join(d, "maps")
        args = ("apply", "-c", conf, "-o", maps, "--postfix-config", config_dir, "--milter", "inet:127.0.0.1:1")
        subprocess.run(["postconf", "-c", config_dir, "-e", "queue_directory = %s" % self.lab.queue_dir], check=True)
        r = run_routectl(*args, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Now a main.cf that postfix check refuses, and a changed config.
        subprocess.run(["postconf", "-c", config_dir, "-e", "queue_directory = %s" % os.path.join(d, "missing")],
                       check=True)
        with open(conf, "w") as f:
            f.write(self.with_mode("enforce"))
        before = digest(os.path.join(config_dir, "main.cf")), digest(os.path.join(config_dir, "master.cf")), \
            tree_digest(maps)
        r = run_routectl(*args, timeout=120)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("postfix", r.stderr)
        self.assertIn("as they were", r.stderr)
        after = digest(os.path.join(config_dir, "main.cf")), digest(os.path.join(config_dir, "master.cf")), \
            tree_digest(maps)
        self.assertEqual(after, before)
        self.assertEqual([n for n in os.listdir(maps) if ".tmp" in n or n.endswith(".old")], [])

    def test_the_admins_relay_domain_table_keeps_every_recipient(self):
        """relay_domains names a table of the admin's and no recipient list: its domains get @domain OK."""
        d, config_dir, conf = self.copy_of_the_lab("admin-table")
        table = os.path.join(d, "my_relays")
        with open(table, "w") as f:
            f.write("relay-one.test OK\nRelay-Two.TEST OK\n.sub.relay-one.test OK\n")
        subprocess.run([POSTMAP, "-c", config_dir, "hash:" + table], check=True)
        subprocess.run(["postconf", "-c", config_dir, "-e", "relay_domains = hash:" + table], check=True)
        maps = os.path.join(d, "maps")
        r = run_routectl("apply", "-c", conf, "-o", maps, "--postfix-config", config_dir, "--milter",
                         "inet:127.0.0.1:1", timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for domain in ("relay-one.test", "relay-two.test"):
            q = subprocess.run([POSTMAP, "-c", config_dir, "-q", "@" + domain, "hash:" + os.path.join(maps, "relay_recipients")],
                               capture_output=True, text=True)
            self.assertEqual(q.stdout.strip(), "OK", domain)
            # ... and the milter would take them as external: apply says so.
            self.assertIn("Postfix relays for %s, and route-milter takes its recipients as external" % domain, r.stderr)
        # A key that is no domain (Postfix's ".parent" form) gets no line, and apply says so.
        self.assertIn('key ".sub.relay-one.test" is no domain name', r.stderr)
        self.assertIn("hash:" + table, subprocess.run(["postconf", "-c", config_dir, "-h", "relay_domains"],
                                                      capture_output=True, text=True).stdout)

    def test_a_relay_domain_table_it_cannot_list_stops_it(self):
        """A table postmap -s cannot list: apply names it and the fix, and changes nothing."""
        d, config_dir, conf = self.copy_of_the_lab("admin-regexp")
        table = os.path.join(d, "my_relays.regexp")
        with open(table, "w") as f:
            f.write("/\\.partner\\.test$/ OK\n")
        subprocess.run(["postconf", "-c", config_dir, "-e", "relay_domains = regexp:" + table], check=True)
        before = digest(os.path.join(config_dir, "main.cf")), digest(os.path.join(config_dir, "master.cf"))
        maps = os.path.join(d, "maps")
        r = run_routectl("apply", "-c", conf, "-o", maps, "--postfix-config", config_dir, "--milter",
                         "inet:127.0.0.1:1", timeout=120)
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn("relay_domains names regexp:" + table, r.stderr)
        self.assertIn("relay_recipient_maps of your own", r.stderr)
        self.assertEqual((digest(os.path.join(config_dir, "main.cf")), digest(os.path.join(config_dir, "master.cf"))),
                         before)
        self.assertEqual(tree_digest(maps), {})


class AuthInClearTests(unittest.TestCase):
    def test_check_warns_where_auth_could_go_in_clear(self):
        d = os.path.join(TMP, "clear")
        os.makedirs(d)
        conf = os.path.join(d, "routes.conf")
        with open(conf, "w") as f:
            f.write('routes = (\n'
                    '  { domain = "none.test"; host = "r.none.test"; security = "none";\n'
                    '    auth = { user = "u"; password = "pw-none"; }; },\n'
                    '  { domain = "may.test"; host = "r.may.test"; security = "starttls";\n'
                    '    auth = { user = "u"; password = "pw-may"; }; },\n'
                    '  { domain = "unset.test"; host = "r.unset.test"; auth = { user = "u"; password = "pw-unset"; }; },\n'
                    '  { domain = "req.test"; host = "r.req.test"; security = "starttls-required";\n'
                    '    auth = { user = "u"; password = "pw-req"; }; } );\n')
        os.chmod(conf, 0o600)
        r = run_routectl("check", "-c", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        warnings = [l for l in r.stderr.splitlines() if "could go in clear" in l]
        self.assertEqual(len(warnings), 2, r.stderr)
        self.assertTrue(warnings[0].startswith(conf + ":2: warning: route none.test"), warnings)
        self.assertTrue(warnings[1].startswith(conf + ":4: warning: route may.test"), warnings)
        self.assertNotIn("pw-", r.stdout + r.stderr)


CLASS_ORDER = [DayOneTests, AuthInClearTests]

if __name__ == "__main__":
    sys.exit(suite_runner.run(sys.modules[__name__], "apply-integration", CLASS_ORDER, cleanup_all))
