"""The route-milter binary driven by miltertest(8) (OpenDKIM's test tool): no MTA, no root.

Each test writes a plan (driver.lua reads it), runs miltertest against a route-milter started
on a unix socket in a scratch directory, and checks the reply characters miltertest saw (c =
continue, y = reply code set, t = tempfail) and the reply texts the milter logged.

    ROUTE_MILTER=build/route-milter tests/milter/run.sh [Class[.test] ...]
"""

import os
import pwd
import re
import contextlib
import http.client
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from lab import LabError, Milter, cleanup_all, free_port, port_open, wait_for  # noqa: E402
import address_scenarios  # noqa: E402
import metrics_lab  # noqa: E402
import suite_runner  # noqa: E402

MILTERTEST = shutil.which("miltertest") or "/usr/bin/miltertest"
DRIVER = os.path.join(HERE, "driver.lua")
ALL = address_scenarios.ALL_CLASSES

CONFIG = """\
%(mode)s
scope = "%(scope)s";
local_domains = [ "lab.test" ];
ip_ranges = (
  { name = "My computer"; cidr = "127.0.0.1/32"; priority = 30; allow = %(all)s;
    require_auth = [ "external-external" ]; },
  { name = "Internet"; cidr = [ "0.0.0.0/0", "::/0" ]; priority = 10; allow = %(all)s;
    require_auth = [ "local-local", "local-external", "external-external" ]; },
  { name = "Blocked"; cidr = "192.0.2.0/24"; priority = 40; allow = [ "external-local" ]; },
  { name = "TLS for AUTH"; cidr = "198.51.100.0/24"; priority = 35; allow = %(all)s;
    require_auth = [ "external-external" ]; require_tls_for_auth = true; },
  { name = "Expired"; cidr = "203.0.113.0/24"; priority = 50; allow = [ "external-local" ];
    expires = "2001-01-01T00:00:00Z"; }
);
routes = (
  { domain = "backup.test"; treat_recipient_as = "local"; deliver_to = "listed";
    addresses = [ %(listed)s ]; %(backup_mode)s},
  { domain = "partner.test"; %(partner_mode)s}
);
"""

WORK = None
MILTER = None


def config(listed=("alice@backup.test", "bob@backup.test"), scope="routes", mode=None, partner_mode=None,
           backup_mode=None):
    return CONFIG % {"scope": scope, "all": ALL, "listed": ", ".join('"%s"' % a for a in listed),
                     "mode": 'mode = "%s";' % mode if mode else "",
                     "partner_mode": 'mode = "%s"; ' % partner_mode if partner_mode else "",
                     "backup_mode": 'mode = "%s"; ' % backup_mode if backup_mode else ""}


def setUpModule():
    global WORK, MILTER
    if not os.access(MILTERTEST, os.X_OK):
        raise RuntimeError("miltertest not found (Debian package miltertest; make check installs it)")
    WORK = tempfile.mkdtemp(prefix="miltertest-")
    MILTER = Milter(WORK, config_text=config(), name="route-milter")
    MILTER.start()


def tearDownModule():
    global MILTER
    cleanup_all()
    MILTER = None
    if WORK and not os.environ.get("LAB_KEEP"):
        shutil.rmtree(WORK, ignore_errors=True)


def use_config(text):
    offset = MILTER.log_offset()
    MILTER.write_config(text)
    MILTER.reload()
    wait_for(lambda: "reloaded" in MILTER.log_text()[offset:] or "error" in MILTER.log_text()[offset:],
             10, what="milter reload")
    if "reloaded" not in MILTER.log_text()[offset:]:
        raise LabError("milter refused the test config:\n" + MILTER.log_text()[offset:])


class Run:
    """The outcome of one miltertest run: replies in plan order, options, the milter's new log."""

    def __init__(self, returncode, out, log):
        self.returncode, self.out, self.log = returncode, out, log
        self.replies = re.findall(r"^REPLY (mail|rcpt) (.)$", out, re.M)
        self.rcpt = [c for kind, c in self.replies if kind == "rcpt"]
        self.options = dict(re.findall(r"^OPTION (\S+) ([01])$", out, re.M))


def miltertest(steps, timeout=60, background=False, socket_spec=None, milter=None):
    """Runs plan steps (tuples) through driver.lua; background=True returns the Popen.

    socket_spec/milter: another socket to connect to, and the milter whose log to read."""
    milter = milter or MILTER
    fd, plan = tempfile.mkstemp(dir=WORK, suffix=".plan")
    with os.fdopen(fd, "w") as f:
        for step in steps:
            assert all("\t" not in str(x) and "\n" not in str(x) for x in step), step
            f.write("\t".join(str(x) for x in step) + "\n")
    cmd = [MILTERTEST, "-D", "socket=" + (socket_spec or milter.socket_spec), "-D", "plan=" + plan, "-s", DRIVER]
    offset = milter.log_offset()
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return Run(p.returncode, p.stdout, milter.log_text()[offset:])


def message(client, sender, rcpts, auth=None, queue_id="ABC123", mail_macros=()):
    steps = [("negotiate",), ("connect", "client.example", client)]
    steps.append(("macro_mail", "i", queue_id) + (("{auth_authen}", auth) if auth else ()) + tuple(mail_macros))
    steps.append(("mail", "<%s>" % sender))
    steps += [("rcpt", "<%s>" % r) for r in rcpts]
    return steps + [("close",)]


def mta_message(sender, mail_addr, rcpts, client="127.0.0.1", queue_id="ABC123"):
    """A message as an MTA that reads the addresses itself sends it: rcpts are (argument, rcpt_addr)."""
    steps = [("negotiate",), ("connect", "client.example", client),
             ("macro_mail", "i", queue_id, "{mail_addr}", mail_addr), ("mail", "<%s>" % sender)]
    for argument, rcpt_addr in rcpts:
        steps += [("macro_rcpt", "i", queue_id, "{rcpt_addr}", rcpt_addr), ("rcpt", "<%s>" % argument)]
    return steps + [("close",)]


def sanitized(pid):
    """Whether the process runs under ASan or TSan (their runtimes are mapped)."""
    with open("/proc/%d/maps" % pid) as f:
        return re.search(r"/lib[at]san\.so", f.read()) is not None


def reply_char(code):
    return "c" if code == 250 else "y"


class MilterCase(unittest.TestCase):
    def assertRun(self, run, rcpt_replies, msg=""):
        self.assertEqual(run.returncode, 0, "miltertest failed: %s\n%s" % (msg, run.out))
        self.assertEqual(run.rcpt, rcpt_replies, "%s\n%s\n--- milter log ---\n%s" % (msg, run.out, run.log))


class NegotiationTests(MilterCase):
    def test_asks_only_for_the_stages_it_uses(self):
        run = miltertest([("negotiate",), ("options",), ("close",)])
        self.assertEqual(run.returncode, 0, run.out)
        # Skipped: everything after RCPT, and HELO; no replies at connect and MAIL (RCPT decides).
        for name in ("SMFIP_NOHELO", "SMFIP_NOHDRS", "SMFIP_NOEOH", "SMFIP_NOBODY", "SMFIP_NODATA",
                     "SMFIP_NOUNKNOWN", "SMFIP_NR_CONN", "SMFIP_NR_MAIL", "SMFIP_NR_HELO", "SMFIP_NR_HDR",
                     "SMFIP_NR_EOH", "SMFIP_NR_BODY", "SMFIP_NR_DATA", "SMFIP_NR_UNKN"):
            self.assertEqual(run.options.get(name), "1", "%s not asked for:\n%s" % (name, run.out))
        # Needed: connect (client address), MAIL FROM (sender, AUTH) and RCPT TO, with a reply.
        for name in ("SMFIP_NOCONNECT", "SMFIP_NOMAIL", "SMFIP_NORCPT", "SMFIP_NR_RCPT"):
            self.assertEqual(run.options.get(name), "0", "%s asked for:\n%s" % (name, run.out))


class RuleTests(MilterCase):
    """Every rule's reply code, enhanced code and text, as the milter hands them to the MTA."""

    CASES = [
        # name, client, auth, sender, rcpt, expected "code xcode text" (None: no objection)
        ("listed", "127.0.0.1", None, "a@far.test", "alice@backup.test", None),
        ("listed, any case", "127.0.0.1", None, "a@far.test", "ALICE@Backup.TEST.", None),
        ("not listed", "127.0.0.1", None, "a@far.test", "carol@backup.test",
         "550 5.1.1 <carol@backup.test>: Recipient not in route list."),
        ("auth required", "203.0.113.9", None, "a@far.test", "x@partner.test",
         "530 5.7.0 SMTP authentication is required."),
        ("auth from {auth_authen}", "203.0.113.9", "relayuser", "a@far.test", "x@partner.test", None),
        ("not allowed", "192.0.2.7", None, "a@far.test", "x@partner.test",
         "550 5.7.1 Delivery is not allowed to this address."),
        ("out of scope", "192.0.2.7", None, "a@far.test", "x@elsewhere.test", None),
        ("bad address", "127.0.0.1", None, "a@far.test", '"unterminated@backup.test',
         "501 5.1.3 <\"unterminated@backup.test>: Bad recipient address syntax."),
        ("bad sender", "127.0.0.1", None, "a@far.test(x)", "alice@backup.test",
         "501 5.1.7 Bad sender address syntax."),
        ("routed address", "127.0.0.1", None, "a@far.test", "v%far.test@lab.test",
         "550 5.7.1 <v%far.test@lab.test>: Source-routed addresses are not accepted."),
        ("postmaster", "192.0.2.7", None, "a@far.test", "Postmaster", None),
    ]

    def test_rules(self):
        for name, client, auth, sender, rcpt, expected in self.CASES:
            with self.subTest(name):
                run = miltertest(message(client, sender, [rcpt], auth=auth, queue_id="Q" + str(abs(hash(name)))[:8]))
                self.assertRun(run, ["c" if expected is None else "y"], name)
                rejects = [l for l in run.log.splitlines() if ": reject: RCPT from " in l]
                if expected is None:
                    self.assertEqual(rejects, [], name)
                    continue
                self.assertEqual(len(rejects), 1, "%s: %s" % (name, run.log))
                # '%' is shown as '?' in reply texts (printf-style MTAs); the log has the raw address.
                self.assertIn(": " + expected.replace("%", "?") + ";", rejects[0], name)
                self.assertIn("RCPT from client.example[%s]" % client, rejects[0], name)
                self.assertIn("to=<%s>" % rcpt, rejects[0], name)

    def test_auth_without_tls_where_the_range_wants_tls(self):
        # Postfix and Sendmail name the TLS version in {tls_version} (and the cipher in {cipher}).
        cases = [
            ("plain AUTH", "relayuser", (), ["y"]),
            ("AUTH after STARTTLS", "relayuser", ("{tls_version}", "TLSv1.3", "{cipher}", "TLS_AES_256_GCM_SHA384"), ["c"]),
            ("cipher only", "relayuser", ("{cipher}", "TLS_AES_256_GCM_SHA384"), ["c"]),
            ("no AUTH: the class decides", None, (), ["y"]),
        ]
        for name, auth, macros, expected in cases:
            with self.subTest(name):
                run = miltertest(message("198.51.100.7", "a@far.test", ["x@partner.test"], auth=auth,
                                         mail_macros=macros))
                self.assertRun(run, expected, name)
                if auth and not macros:
                    self.assertIn(": 530 5.7.0 Must issue a STARTTLS command first.;", run.log)
                    self.assertIn("rule=tls-required", run.log)
                if not auth:
                    self.assertIn("rule=auth-required", run.log)

    def test_expired_range_matches_no_client(self):
        # "Expired" (priority 50) would allow only external-local from 203.0.113.0/24; it expired
        # in 2001, so "Internet" decides: relaying with AUTH is allowed.
        run = miltertest(message("203.0.113.9", "a@far.test", ["x@partner.test"], auth="relayuser"))
        self.assertRun(run, ["c"])

    def test_queue_id_macro_starts_the_log_line(self):
        run = miltertest(message("127.0.0.1", "a@far.test", ["carol@backup.test"], queue_id="4XyZ9Q"))
        self.assertRun(run, ["y"])
        self.assertRegex(run.log, r"(?m)4XyZ9Q: reject: RCPT from client\.example\[127\.0\.0\.1\]: 550 5\.1\.1 ")

    def test_values_with_blanks_are_quoted_in_the_log(self):
        # "My computer" covers 127.0.0.1: a reader splitting at blanks must get range= whole.
        run = miltertest(message("127.0.0.1", "a@far.test", ["carol@backup.test"], queue_id="Q7BLANK"))
        self.assertRun(run, ["y"])
        line = [l for l in run.log.splitlines() if "Q7BLANK: reject: RCPT from " in l]
        self.assertEqual(len(line), 1, run.log)
        self.assertRegex(line[0], r' rule=not-listed route="backup\.test \(line \d+\)" range="My computer"'
                                  r'( class=[a-z-]+)?$')
        pairs = dict(re.findall(r' (\w+)=("(?:[^"\\]|\\.)*"|\S+)', line[0].split("; ", 1)[1]))
        self.assertEqual(pairs["range"], '"My computer"', line[0])
        self.assertEqual(pairs["rule"], "not-listed", line[0])

    def test_mixed_recipients_each_on_their_own(self):
        run = miltertest(message("203.0.113.9", "a@far.test",
                                 ["alice@backup.test", "carol@backup.test", "x@partner.test", "bob@backup.test"]))
        self.assertRun(run, ["c", "y", "y", "c"])

    def test_unknown_client_family_is_no_range(self):
        run = miltertest([("negotiate",), ("connect", "localhost", "unspec"), ("mail", "<a@far.test>"),
                          ("rcpt", "<alice@backup.test>"), ("rcpt", "<x@partner.test>"), ("close",)])
        # No range covers an unknown client: even a listed recipient is "not allowed".
        self.assertRun(run, ["y", "y"])
        self.assertIn("550 5.7.1 Delivery is not allowed", run.log)


class HostileAddressTests(MilterCase):
    """address_scenarios.SCENARIOS (the Postfix and Sendmail suites run them too), without an MTA."""

    @classmethod
    def setUpClass(cls):
        use_config(address_scenarios.config())

    @classmethod
    def tearDownClass(cls):
        use_config(config())

    def test_scenarios(self):
        for name, sender, rcpt, code, enhanced in address_scenarios.SCENARIOS:
            if name == "long unlisted recipient":
                continue  # below: miltertest caps its own buffers
            with self.subTest(name):
                run = miltertest(message("127.0.0.1", sender, [rcpt]))
                self.assertRun(run, [reply_char(code)], name)
                if code != 250:
                    self.assertRegex(run.log, r": %d %s " % (code, re.escape(enhanced)), name)

    def test_scenarios_with_the_mtas_reading(self):
        # What Postfix and Sendmail send for these forms: the plain addresses in {mail_addr} and
        # {rcpt_addr}. The milter judges those, whatever the argument around them.
        plain = {"sender": address_scenarios.LOCAL, "recipient": "abuse@backup.test"}
        checked = 0
        for name, sender, rcpt, code, enhanced in address_scenarios.SCENARIOS:
            if name not in address_scenarios.WITH_MTA_READING or name == "bare percent hack":
                continue
            code, enhanced = address_scenarios.expected(name, code, enhanced, mta_reading=True)
            mail_addr = plain["sender"] if name.startswith("sender") else sender
            rcpt_addr = plain["recipient"] if name.startswith("recipient") else rcpt
            with self.subTest(name):
                run = miltertest(mta_message(sender, mail_addr, [(rcpt, rcpt_addr)]))
                self.assertRun(run, [reply_char(code)], name)
                self.assertRegex(run.log, r": %d %s .*from=<%s> to=<%s> " % (
                    code, re.escape(enhanced), re.escape(mail_addr), re.escape(rcpt_addr)), name)
                checked += 1
        self.assertGreater(checked, 20)

    def test_an_unqualified_mta_reading_falls_back_to_the_strict_argument(self):
        # Sendmail's local mailer gives the user alone in {rcpt_addr}: the argument gives the
        # domain, read strictly (a trailing ";" is refused, not guessed at), and must hold that
        # user. A reading that does not parse is refused, not replaced by the argument.
        run = miltertest(mta_message(address_scenarios.EXT, address_scenarios.EXT,
                                     [("alice@backup.test;", "alice"), ("alice@backup.test", "alice"),
                                      ("abuse@backup.test", "abuse"), ("alice@backup.test", "bob"),
                                      ("alice@backup.test", "grp:alice@backup.test")]))
        self.assertRun(run, ["y", "c", "y", "y", "y"])
        self.assertEqual(run.log.count("rule=bad-address"), 3, run.log)
        self.assertRegex(run.log, r"501 5\.1\.3 .* to=<alice@backup\.test;> \(unread\) rule=bad-address")
        self.assertRegex(run.log, r"550 5\.1\.1 .* to=<abuse@backup\.test> rule=not-listed")

    def test_a_routed_sender_is_local_when_its_written_form_is(self):
        # Postfix resolves <ext%far.test@own.test> to ext@far.test in {mail_addr} but queues it as
        # written, in an own domain: judged local (AUTH needed here), never external.
        run = miltertest(mta_message("ext%far.test@own.test", "ext@far.test",
                                     [("alice@backup.test", "alice@backup.test")]))
        self.assertRun(run, ["y"])
        self.assertRegex(run.log, r"530 5\.7\.0 .*from=<ext@far\.test> to=<alice@backup\.test> rule=auth-required")
        run = miltertest(mta_message("ext@far.test", "ext@far.test", [("alice@backup.test", "alice@backup.test")]))
        self.assertRun(run, ["c"])
        # The same routed sender with a comment cannot be read as written: refused, not judged external.
        for written in ("ext%far.test(x)@own.test", "far.test!ext(x)@own.test", '"ext@far.test"(x)@own.test'):
            run = miltertest(mta_message(written, "ext@far.test", [("alice@backup.test", "alice@backup.test")]))
            self.assertRun(run, ["y"], written)
            self.assertIn("501 5.1.7", run.log)
        run = miltertest(mta_message("ext(x)@far.test", "ext@far.test", [("alice@backup.test", "alice@backup.test")]))
        self.assertRun(run, ["c"])

    def test_every_decision_is_logged_with_log_accepted(self):
        use_config(address_scenarios.config().replace("scope =", "milter = { log_accepted = true; };\nscope =", 1))
        try:
            run = miltertest(mta_message("ext@far.test (x)", address_scenarios.EXT,
                                         [("alice@backup.test;", "alice@backup.test")]))
            self.assertRun(run, ["c"])
            self.assertRegex(run.log, r"ABC123: accept: RCPT from client\.example\[127\.0\.0\.1\]: "
                                      r"from=<ext@far\.test> to=<alice@backup\.test> rule=no-objection "
                                      r"route=\"backup\.test \(line \d+\)\" range=Internet class=external-local")
        finally:
            use_config(address_scenarios.config())

    def test_raw_arguments_are_escaped_in_the_log(self):
        run = miltertest(message("127.0.0.1", address_scenarios.EXT, ["a\x01b\\c@backup.test;"]))
        self.assertRun(run, ["y"])
        self.assertIn(r"to=<a\x01b\x5cc@backup.test;>", run.log)

    def test_long_recipient_gets_its_5xx(self):
        rcpt = "a" * 1000 + "@backup.test"
        run = miltertest(message("127.0.0.1", address_scenarios.EXT, [rcpt]))
        self.assertRun(run, ["y"])
        line = [l for l in run.log.splitlines() if "reject: RCPT" in l][0]
        self.assertIn(": 550 5.1.1 <" + "a" * 200 + "...>: Recipient not in route list.;", line)


class ReloadTests(MilterCase):
    def tearDown(self):
        use_config(config())

    def test_connection_keeps_its_policy_across_a_reload(self):
        reached = os.path.join(WORK, "reached")
        go_on = os.path.join(WORK, "go-on")
        for f in (reached, go_on):
            if os.path.exists(f):
                os.unlink(f)
        first = miltertest([("negotiate",), ("connect", "client.example", "127.0.0.1"),
                            ("mail", "<a@far.test>"), ("rcpt", "<carol@backup.test>"), ("touch", reached),
                            ("wait_for", go_on), ("rcpt", "<carol@backup.test>"), ("close",)], background=True)
        try:
            wait_for(lambda: os.path.exists(reached) or first.poll() is not None, 20, what="first connection")
            use_config(config(listed=("alice@backup.test", "carol@backup.test")))
            # A connection that starts after the reload sees the new list.
            second = miltertest(message("127.0.0.1", "a@far.test", ["carol@backup.test"]))
            self.assertRun(second, ["c"], "new connection after reload")
        finally:
            open(go_on, "w").close()
            out, _ = first.communicate(timeout=30)
        # The old connection keeps the snapshot it started with, even for a new message... of its own.
        self.assertEqual(first.returncode, 0, out)
        self.assertEqual(re.findall(r"^REPLY rcpt (.)$", out, re.M), ["y", "y"], out)

    def test_bad_reload_keeps_the_running_policy(self):
        offset = MILTER.log_offset()
        MILTER.write_config('routes = ( { domain = "backup.test"; port = 99999; } );\n')
        MILTER.reload()
        wait_for(lambda: "error" in MILTER.log_text()[offset:] or "reloaded" in MILTER.log_text()[offset:], 10,
                 what="reload attempt")
        self.assertNotIn("reloaded", MILTER.log_text()[offset:])
        run = miltertest(message("127.0.0.1", "a@far.test", ["alice@backup.test", "carol@backup.test"]))
        self.assertRun(run, ["c", "y"])


    def test_reload_rereads_address_files_all_or_nothing(self):
        listed = os.path.join(WORK, "backup.list")

        def write_list(text):
            with open(listed + ".new", "w") as f:
                f.write(text)
            os.rename(listed + ".new", listed)

        write_list("# nightly export\nalice@backup.test\n")
        use_config(config().replace('addresses = [ "alice@backup.test", "bob@backup.test" ];',
                                    'addresses = [ "bob@backup.test" ]; addresses_file = "%s";' % listed))
        run = miltertest(message("127.0.0.1", "a@far.test", ["alice@backup.test", "bob@backup.test",
                                                             "carol@backup.test"]))
        self.assertRun(run, ["c", "c", "y"], "inline and file addresses")
        # The config is unchanged: SIGHUP reads the file again.
        write_list("alice@backup.test\ncarol@backup.test\n")
        offset = MILTER.log_offset()
        MILTER.reload()
        wait_for(lambda: "reloaded" in MILTER.log_text()[offset:], 10, what="reload")
        self.assertIn("3 listed addresses", MILTER.log_text()[offset:])
        self.assertRun(miltertest(message("127.0.0.1", "a@far.test", ["carol@backup.test"])), ["c"], "after reload")
        # A broken file keeps the running policy, and the log names the file and line.
        write_list("dave@backup.test\nnot an address\n")
        offset = MILTER.log_offset()
        MILTER.reload()
        wait_for(lambda: "keeping the running policy" in MILTER.log_text()[offset:], 10, what="refused reload")
        self.assertIn(listed + ":2: ", MILTER.log_text()[offset:])
        run = miltertest(message("127.0.0.1", "a@far.test", ["carol@backup.test", "dave@backup.test"]))
        self.assertRun(run, ["c", "y"], "the old policy still in force")
        # So does a missing one, named at the config line.
        os.unlink(listed)
        offset = MILTER.log_offset()
        MILTER.reload()
        wait_for(lambda: "keeping the running policy" in MILTER.log_text()[offset:], 10, what="refused reload")
        self.assertIn("addresses_file: cannot read the file (No such file or directory)", MILTER.log_text()[offset:])
        self.assertRun(miltertest(message("127.0.0.1", "a@far.test", ["carol@backup.test"])), ["c"], "still in force")


class WarnModeTests(MilterCase):
    """mode = "warn": policy refusals are logged as "would reject" and the recipient goes on."""

    def tearDown(self):
        use_config(config())

    def warn_lines(self, run):
        return [l for l in run.log.splitlines() if ": warn: RCPT from " in l]

    def test_policy_rules_are_logged_not_enforced(self):
        use_config(config(mode="warn"))
        for name, client, sender, rcpt, expected, rule in [
            ("not listed", "127.0.0.1", "a@far.test", "carol@backup.test",
             "550 5.1.1 <carol@backup.test>: Recipient not in route list.", "not-listed"),
            ("auth required", "203.0.113.9", "a@far.test", "x@partner.test",
             "530 5.7.0 SMTP authentication is required.", "auth-required"),
            ("not allowed", "192.0.2.7", "a@far.test", "x@partner.test",
             "550 5.7.1 Delivery is not allowed to this address.", "not-allowed"),
            ("routed address", "127.0.0.1", "a@far.test", "v%far.test@lab.test",
             "550 5.7.1 <v?far.test@lab.test>: Source-routed addresses are not accepted.", "routed-address"),
        ]:
            with self.subTest(name):
                run = miltertest(message(client, sender, [rcpt], queue_id="W1234"))
                self.assertRun(run, ["c"], name)
                warns = self.warn_lines(run)
                self.assertEqual(len(warns), 1, "%s: %s" % (name, run.log))
                self.assertIn("W1234: warn: RCPT from client.example[%s]: would reject: %s; from=<%s> to=<%s> rule=%s "
                              % (client, expected, sender, rcpt, rule), warns[0])
                self.assertNotIn(": reject: ", run.log, name)
        # No objection: nothing logged.
        run = miltertest(message("127.0.0.1", "a@far.test", ["alice@backup.test"]))
        self.assertRun(run, ["c"])
        self.assertEqual(self.warn_lines(run), [])

    def test_unreadable_addresses_are_refused_in_warn_mode_too(self):
        use_config(config(mode="warn"))
        run = miltertest(message("127.0.0.1", "a@far.test", ['"unterminated@backup.test', "carol@backup.test"]))
        self.assertRun(run, ["y", "c"])
        self.assertIn(": reject: RCPT from client.example[127.0.0.1]: 501 5.1.3 ", run.log)
        self.assertEqual(len(self.warn_lines(run)), 1, run.log)
        run = miltertest(message("127.0.0.1", "a@far.test(x)", ["alice@backup.test"]))
        self.assertRun(run, ["y"])
        self.assertIn("501 5.1.7 Bad sender address syntax.", run.log)

    def test_route_mode_overrides_the_top_level(self):
        use_config(config(mode="warn", partner_mode="enforce"))
        run = miltertest(message("203.0.113.9", "a@far.test", ["carol@backup.test", "x@partner.test"]))
        self.assertRun(run, ["c", "y"])
        self.assertIn('rule=not-listed route="backup.test (line ', "\n".join(self.warn_lines(run)))
        self.assertIn(": reject: RCPT from client.example[203.0.113.9]: 530 5.7.0 ", run.log)

    def test_a_routes_warn_mode_rehearses_its_address_list_only(self):
        # The IP range's rules stay enforced for a warn route's recipients: its AUTH rule here.
        use_config(config(partner_mode="warn", backup_mode="warn"))
        run = miltertest(message("203.0.113.9", "a@far.test", ["carol@backup.test", "x@partner.test"]))
        self.assertRun(run, ["c", "y"])
        self.assertIn('rule=not-listed route="backup.test (line ', "\n".join(self.warn_lines(run)))
        self.assertIn(": reject: RCPT from client.example[203.0.113.9]: 530 5.7.0 SMTP authentication is required.; "
                      'from=<a@far.test> to=<x@partner.test> rule=auth-required route="partner.test (line ', run.log)
        # Listed, from a local sender without AUTH (local-local): refused, and never only logged.
        run = miltertest(message("203.0.113.9", "a@lab.test", ["alice@backup.test"]))
        self.assertRun(run, ["y"])
        self.assertIn('rule=auth-required route="backup.test (line ', run.log)
        self.assertEqual(self.warn_lines(run), [])
        # Not allowed for the client's range: refused too.
        run = miltertest(message("192.0.2.7", "a@lab.test", ["alice@backup.test"]))
        self.assertRun(run, ["y"])
        self.assertIn('rule=not-allowed route="backup.test (line ', run.log)

    def test_reload_switches_mode_and_a_connection_keeps_its_own(self):
        use_config(config(mode="warn"))
        reached = os.path.join(WORK, "reached-warn")
        go_on = os.path.join(WORK, "go-on-warn")
        for f in (reached, go_on):
            if os.path.exists(f):
                os.unlink(f)
        first = miltertest([("negotiate",), ("connect", "client.example", "127.0.0.1"),
                            ("mail", "<a@far.test>"), ("rcpt", "<carol@backup.test>"), ("touch", reached),
                            ("wait_for", go_on), ("rcpt", "<carol@backup.test>"), ("close",)], background=True)
        try:
            wait_for(lambda: os.path.exists(reached) or first.poll() is not None, 20, what="first connection")
            offset = MILTER.log_offset()
            use_config(config(mode="enforce"))
            self.assertIn("mode enforce, 0 routes in warn mode", MILTER.log_text()[offset:])
            second = miltertest(message("127.0.0.1", "a@far.test", ["carol@backup.test"]))
            self.assertRun(second, ["y"], "new connection after the switch to enforce")
        finally:
            open(go_on, "w").close()
            out, _ = first.communicate(timeout=30)
        self.assertEqual(first.returncode, 0, out)
        self.assertEqual(re.findall(r"^REPLY rcpt (.)$", out, re.M), ["c", "c"], out)


class MetricsTests(MilterCase):
    """/metrics of a milter started with a metrics group: counted by value, checked by promtool."""

    milter = None
    port = None

    @classmethod
    def config(cls, mode=None):
        return config(mode=mode) + 'metrics = { listen = "inet:%d@127.0.0.1"; max_connections = 8; timeout = 2; };\n' % cls.port

    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.milter = Milter(WORK, config_text=cls.config(), name="metrics-milter")
        cls.milter.start()
        wait_for(lambda: port_open("127.0.0.1", cls.port), 10, what="metrics port")

    @classmethod
    def tearDownClass(cls):
        if cls.milter:
            cls.milter.stop()
        cls.milter = None

    def scrape(self):
        text = metrics_lab.scrape(self.port)
        metrics_lab.promtool_check(text)
        return metrics_lab.parse(text)

    def run_messages(self, client, sender, rcpts, times):
        for _ in range(times):
            run = miltertest(message(client, sender, rcpts), milter=self.milter)
            self.assertEqual(run.returncode, 0, run.out)

    def use(self, text):
        offset = self.milter.log_offset()
        self.milter.write_config(text)
        self.milter.reload()
        wait_for(lambda: re.search(r"reloaded|reload failed", self.milter.log_text()[offset:]), 10, what="reload")
        return self.milter.log_text()[offset:]

    def decisions(self, samples, rule, route, mode="enforce"):
        return metrics_lab.value(samples, "route_milter_decisions_total", rule=rule, route=route, mode=mode)

    def test_decisions_are_counted_by_rule_route_and_mode(self):
        before = self.scrape()
        self.run_messages("127.0.0.1", "a@far.test", ["carol@backup.test", "alice@backup.test"], 3)
        self.run_messages("203.0.113.9", "a@far.test", ["x@partner.test", "y@elsewhere.test"], 2)
        self.run_messages("127.0.0.1", "a@far.test", ['"unterminated@backup.test'], 1)
        after = self.scrape()

        def delta(rule, route, mode="enforce"):
            return self.decisions(after, rule, route, mode) - self.decisions(before, rule, route, mode)
        self.assertEqual(delta("not-listed", "backup.test"), 3)
        self.assertEqual(delta("no-objection", "backup.test"), 3)
        self.assertEqual(delta("auth-required", "partner.test"), 2)
        self.assertEqual(delta("out-of-scope", "none"), 2)
        self.assertEqual(delta("bad-address", "none"), 1)
        self.assertEqual(delta("not-listed", "backup.test", "warn"), 0)
        total = lambda s, name: metrics_lab.value(s, name)  # noqa: E731
        self.assertEqual(total(after, "route_milter_rcpt_total") - total(before, "route_milter_rcpt_total"), 11)
        self.assertEqual(total(after, "route_milter_connections_total") - total(before, "route_milter_connections_total"), 6)
        self.assertEqual(total(after, "route_milter_routes"), 2)
        self.assertEqual(total(after, "route_milter_listed_addresses"), 2)
        self.assertEqual(total(after, "route_milter_ip_ranges"), config().count("{ name = "))
        for name in ("process_start_time_seconds", "process_resident_memory_bytes", "process_open_fds",
                     "process_max_fds"):
            self.assertGreater(total(after, name), 0, name)
        # CPU time counts in clock ticks: a young, idle daemon may show 0.
        self.assertIn(("process_cpu_seconds_total", frozenset()), after)
        started = total(after, "process_start_time_seconds")
        self.assertTrue(time.time() - 3600 < started <= time.time(), started)

    def test_reloads_modes_and_digest(self):
        digest = lambda s: [l["digest"] for l, _ in metrics_lab.series(s, "route_milter_config_info")]  # noqa: E731
        checked = subprocess.run([self.milter.binary, "-t", "-c", self.milter.conf], capture_output=True, text=True)
        first = self.scrape()
        self.assertEqual(len(digest(first)), 1)
        self.assertIn("digest %s)" % digest(first)[0], checked.stdout)
        self.assertRegex(digest(first)[0], r"^[0-9a-f]{64}$")
        ok0 = metrics_lab.value(first, "route_milter_reloads_total", result="ok")
        failed0 = metrics_lab.value(first, "route_milter_reloads_total", result="failed")
        try:
            log = self.use(self.config(mode="warn"))
            self.assertIn("reloaded", log)
            self.assertIn("digest ", log)
            self.run_messages("127.0.0.1", "a@far.test", ["carol@backup.test"], 2)
            warned = self.scrape()
            self.assertEqual(self.decisions(warned, "not-listed", "backup.test", "warn")
                             - self.decisions(first, "not-listed", "backup.test", "warn"), 2)
            self.assertEqual(metrics_lab.value(warned, "route_milter_reloads_total", result="ok"), ok0 + 1)
            self.assertEqual(metrics_lab.value(warned, "route_milter_config_last_reload_successful"), 1)
            self.assertEqual(metrics_lab.value(warned, "route_milter_routes_in_warn_mode"), 2)
            self.assertNotEqual(digest(warned), digest(first))
            self.assertGreaterEqual(metrics_lab.value(warned, "route_milter_config_last_reload_success_timestamp_seconds"),
                                    metrics_lab.value(first, "route_milter_config_last_reload_success_timestamp_seconds"))

            log = self.use('routes = ( { domain = "backup.test"; port = 99999; } );\n')
            self.assertIn("reload failed", log)
            failed = self.scrape()
            self.assertEqual(metrics_lab.value(failed, "route_milter_reloads_total", result="failed"), failed0 + 1)
            self.assertEqual(metrics_lab.value(failed, "route_milter_reloads_total", result="ok"), ok0 + 1)
            self.assertEqual(metrics_lab.value(failed, "route_milter_config_last_reload_successful"), 0)
            self.assertEqual(digest(failed), digest(warned), "a failed reload keeps the running config")
        finally:
            log = self.use(self.config())
        back = self.scrape()
        self.assertEqual(digest(back), digest(first), "the same files give the same digest")
        self.assertEqual(metrics_lab.value(back, "route_milter_config_last_reload_successful"), 1)

    def test_counters_of_routes_removed_by_reloads_are_given_back(self):
        # Route names churned through reloads: each generation's series leave the page once a
        # reload has removed them, their counts stay in route_milter_rcpt_total (never down),
        # and memory stays that of the routes in use (16 x 10,000 names held ~45 MB before).
        routes, generations = 10000, 16

        def churned(gen):
            names = "".join(',\n  { domain = "r%d-%d.churn.test"; }' % (gen, i) for i in range(routes))
            text = self.config().replace('  { domain = "partner.test"; }', '  { domain = "partner.test"; }' + names)
            self.assertIn("r%d-1.churn.test" % gen, text)
            return text

        def routes_shown(samples):
            return {l["route"] for l, _ in metrics_lab.series(samples, "route_milter_decisions_total")}

        def rcpt_total(samples):
            return metrics_lab.value(samples, "route_milter_rcpt_total")
        try:
            self.run_messages("127.0.0.1", "a@far.test", ["carol@backup.test"], 1)
            self.assertIn("reloaded", self.use(churned(0)))
            self.run_messages("127.0.0.1", "a@far.test", ["x@r0-0.churn.test"], 1)
            first = self.scrape()
            kept = self.decisions(first, "not-listed", "backup.test")
            self.assertIn("r0-0.churn.test", routes_shown(first))
            before = rcpt_total(first)
            for gen in range(1, generations + 1):
                self.assertIn("reloaded", self.use(churned(gen)))
                self.run_messages("127.0.0.1", "a@far.test", ["x@r%d-0.churn.test" % gen], 1)
                samples = self.scrape()
                shown = routes_shown(samples)
                self.assertIn("r%d-0.churn.test" % gen, shown)
                # The generation before may still be held by the connection that counted into it
                # (its close may follow the reload); the one before that is gone.
                self.assertFalse([r for r in shown if r.startswith("r%d-" % (gen - 2))],
                                 "a removed route's series stays")
                self.assertEqual(rcpt_total(samples), before + gen, "route_milter_rcpt_total lost the removed counts")
                # A route every generation keeps counts where it was.
                self.assertEqual(self.decisions(samples, "not-listed", "backup.test"), kept)
            last = self.scrape()
            growth = (metrics_lab.value(last, "process_resident_memory_bytes") -
                      metrics_lab.value(first, "process_resident_memory_bytes"))
            # A sanitizer's allocator keeps freed memory in quarantine: RSS says nothing there.
            if not sanitized(self.milter.proc.pid):
                self.assertLess(growth, 15e6, "%d route names churned through reloads kept %.1f MB"
                                % (routes * generations, growth / 1e6))
        finally:
            self.use(self.config())
        # Back to the base config: no churned route keeps a series (a second reload frees what a
        # late connection close kept through the first).
        self.use(self.config())
        self.assertFalse([r for r in routes_shown(self.scrape()) if r.endswith(".churn.test")])

    def test_only_get_metrics_is_served(self):
        import http.client
        for method, path, status in (("GET", "/", 404), ("GET", "/metrics/x", 404), ("POST", "/metrics", 405),
                                     ("DELETE", "/metrics", 405), ("HEAD", "/metrics", 200)):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request(method, path, body="x=1" if method == "POST" else None)
                self.assertEqual(conn.getresponse().status, status, "%s %s" % (method, path))
            finally:
                conn.close()

    def threads(self):
        with open("/proc/%d/status" % self.milter.proc.pid) as f:
            return int(re.search(r"^Threads:\s+(\d+)", f.read(), re.M).group(1))

    def test_hostile_scrapers_never_hold_up_decisions(self):
        threads_before = self.threads()
        offset = self.milter.log_offset()
        held = []
        try:
            # Many connections, each a request that never ends (a header line, then nothing).
            for _ in range(40):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                with contextlib.suppress(OSError):
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                held.append(s)
            # A huge header: refused with 431, not buffered.
            big = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            held.append(big)
            with contextlib.suppress(OSError):
                big.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
            # Decisions go on meanwhile, with the same answers.
            for _ in range(3):
                run = miltertest(message("127.0.0.1", "a@far.test", ["carol@backup.test", "alice@backup.test"]),
                                 milter=self.milter, timeout=20)
                self.assertRun(run, ["y", "c"], "decisions while scrapers hold the metrics port")
            self.assertEqual(self.threads(), threads_before, "scrapers must not start threads")
            # Every connection is closed by the server: at accept beyond twice max_connections, by
            # a newer one beyond max_connections, at metrics.timeout (2 s) after its accept, or
            # after the 431.
            deadline = time.time() + 10
            for s in held:
                while True:
                    s.settimeout(max(0.05, deadline - time.time()))
                    try:
                        if not s.recv(65536):
                            break
                    except socket.timeout:
                        self.fail("a scraper connection is still open after 10 s")
                    except OSError:
                        break
        finally:
            for s in held:
                s.close()
        # A well-behaved scrape is served again (within a few seconds: the server may still be
        # closing what the scrapers left), and the refusals did not flood the log.
        served = []

        def scraped():
            try:
                served.append(self.scrape())
                return True
            except ConnectionError:
                return False
        wait_for(scraped, 5, interval=0.2, what="a scrape served after the hostile ones")
        refusals = [l for l in self.milter.log_text()[offset:].splitlines() if "metrics: " in l]
        self.assertLessEqual(len(refusals), 15, "\n".join(refusals))

    def trickle(self, stop, reconnect, lifetimes):
        """A slowloris: a request that never ends, one byte a second (never idle for 2 s),
        until stop; each connection's lifetime goes to lifetimes when the server closes it. With
        reconnect, a new connection follows at once, as long as stop is not set."""
        while True:
            opened = time.monotonic()
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            except OSError:
                if not reconnect or stop.wait(0.01):
                    return
                continue
            try:
                s.settimeout(1.0)
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                while not stop.is_set():
                    s.sendall(b"X")
                    try:
                        if not s.recv(4096):
                            break
                    except socket.timeout:
                        continue
                else:
                    return  # stopped: still open
            except OSError:
                pass
            finally:
                s.close()
            lifetimes.append(time.monotonic() - opened)
            if not reconnect or stop.is_set():
                return

    def scrape_promptly(self, what):
        started = time.monotonic()
        try:
            text = metrics_lab.scrape(self.port, timeout=2)
        except (OSError, http.client.HTTPException) as e:
            self.fail("%s: /metrics not served (%r)" % (what, e))
        # Held out, a scrape would wait for a trickler's deadline (2 s): well under that is served.
        self.assertLess(time.monotonic() - started, 1.5, what)
        self.assertIn("route_milter_rcpt_total ", text)

    @contextlib.contextmanager
    def tricklers(self, count, reconnect):
        """count slowloris threads (trickle) while the block runs; yields (threads, lifetimes).
        On exit they are stopped; a connection still open then is not in lifetimes."""
        stop = threading.Event()
        lifetimes = []
        threads = [threading.Thread(target=self.trickle, args=(stop, reconnect, lifetimes)) for _ in range(count)]
        try:
            for t in threads:
                t.start()
            time.sleep(0.5)  # connected and trickling
            yield threads, lifetimes
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertFalse([t for t in threads if t.is_alive()])

    def test_trickling_connections_are_cut_at_their_deadline_and_never_keep_a_scrape_out(self):
        # metrics.max_connections = 8, metrics.timeout = 2: as many tricklers as connections.
        with self.tricklers(8, reconnect=False) as (threads, lifetimes):
            for n in range(3):
                self.scrape_promptly("scrape %d while eight connections trickle" % n)
            for t in threads:
                t.join(2 + 3)
            self.assertFalse([t for t in threads if t.is_alive()], "a trickling connection outlived its deadline")
        self.assertEqual(len(lifetimes), 8)
        # Each cut at its deadline (2 s, and one trickle later at most) or before, to make room.
        self.assertLess(max(lifetimes), 2 + 1.5, lifetimes)

    def test_tricklers_that_come_back_at_once_never_keep_a_scrape_out(self):
        with self.tricklers(12, reconnect=True) as (_, lifetimes):
            deadline = time.monotonic() + 5
            n = 0
            while time.monotonic() < deadline:
                self.scrape_promptly("scrape %d while twelve tricklers reconnect" % n)
                n += 1
                time.sleep(0.2)
        self.assertTrue(lifetimes and max(lifetimes) < 2 + 1.5, lifetimes)

    def test_one_request_a_connection(self):
        # A kept-alive connection would wait for a next request (and its own deadline would cut
        # a scraper that reuses it): each answer says "Connection: close", the server closes the
        # connection, and a second request on it gets nothing.
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            head, body = data.split(b"\r\n\r\n", 1)
            self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
            self.assertRegex(head, rb"\r\nConnection: close(\r\n|$)")
            length = int(re.search(rb"\r\nContent-Length: (\d+)", head, re.I).group(1))
            while len(body) < length:
                body += s.recv(65536)
            with contextlib.suppress(OSError):
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                rest = s.recv(65536)
            except ConnectionResetError:
                rest = b""
            self.assertEqual(rest, b"", "a second request on the connection was answered")
        finally:
            s.close()

    def test_huge_header_gets_431(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            with contextlib.suppress(OSError):
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 431 "))
        finally:
            s.close()


class StartupSignalTests(MilterCase):
    """SIGHUP while the daemon starts (its first compile of a big config, in a child process)
    never ends it: the reload it asked for runs once, after the start."""

    ADDRESSES = 1500000  # about a second of load: SIGHUP lands in it

    @classmethod
    def setUpClass(cls):
        cls.list = os.path.join(WORK, "startup-big.txt")
        with open(cls.list, "w") as f:
            f.write("".join("user%d@big.test\n" % i for i in range(cls.ADDRESSES)))
        os.chmod(cls.list, 0o600)

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.list)

    @staticmethod
    def compiling(pid):
        """Whether the daemon has a child (its routectl compile) right now."""
        with contextlib.suppress(OSError), open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return f.read().strip() != ""
        return False

    def test_sighup_during_the_first_load_reloads_once_after_it(self):
        text = config().replace('  { domain = "partner.test"; }',
                                '  { domain = "partner.test"; },\n'
                                '  { domain = "big.test"; treat_recipient_as = "local"; deliver_to = "listed";\n'
                                '    addresses_file = "%s"; }' % self.list)
        self.assertIn("big.test", text)
        for signals in (1, 3):  # several during the start make one reload
            with self.subTest(signals=signals):
                # Under a sanitizer the load takes many times as long.
                m = Milter(WORK, config_text=text, name="startup-%d" % signals, start_timeout=180)
                failed = []

                def start():
                    try:
                        m.start()
                    except BaseException as e:  # noqa: B902 - reported by the test below
                        failed.append(e)
                starter = threading.Thread(target=start)
                starter.start()
                try:
                    wait_for(lambda: m.proc is not None, 10, interval=0.001, what="route-milter spawned")
                    pid = m.proc.pid
                    # In the first compile: the daemon waits for its routectl child.
                    wait_for(lambda: m.proc.poll() is not None or self.compiling(pid), 30, interval=0.002,
                             what="the first load under way")
                    self.assertNotIn("starting ", m.log_text(), "the load was over before SIGHUP: use a longer list")
                    for _ in range(signals):
                        os.kill(pid, signal.SIGHUP)
                    starter.join(60)
                    self.assertEqual(failed, [], "SIGHUP during the start ended the daemon")
                    self.assertTrue(m.running())
                    wait_for(lambda: "reloaded " in m.log_text(), 180, what="the reload SIGHUP asked for")
                    run = miltertest(message("127.0.0.1", "a@far.test",
                                             ["carol@backup.test", "user7@big.test", "nobody@big.test"]), milter=m)
                    self.assertRun(run, ["y", "c", "y"], "it serves the policy it loaded")
                    log = m.log_text()
                    self.assertEqual(log.count("SIGHUP: reloading"), 1, log)
                    self.assertEqual(len(re.findall(r"\breloaded ", log)), 1, log)
                    self.assertLess(log.index("starting "), log.index("SIGHUP: reloading"), log)
                finally:
                    starter.join(60)
                    m.stop()


class LogcheckTests(MilterCase):
    """The package's logcheck rules (egrep -v -f, as logcheck runs them) on real log lines."""

    RULES = os.path.join(HERE, "..", "..", "packaging", "debian", "route-milter.logcheck.ignore.server")

    @staticmethod
    def as_syslog(lines, stamp):
        # -l stderr writes "route-milter: [error: |warning: ]TEXT"; syslog writes TEXT after the tag.
        out = []
        for line in lines:
            text = re.sub(r"^route-milter: (?:error: |warning: )?", "", line)
            out.append("%s mx1 route-milter[4242]: %s" % (stamp, text))
        return out

    def reported(self, lines):
        p = subprocess.run(["grep", "-E", "-v", "-f", self.RULES], input="\n".join(lines) + "\n",
                           capture_output=True, text=True)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        return [l for l in p.stdout.splitlines() if l]

    def test_routine_lines_are_ignored_and_errors_kept(self):
        work = tempfile.mkdtemp(dir=WORK)
        # Addresses from a file: a reload of the unchanged config and one of a changed config
        # are both routine.
        listed = os.path.join(work, "backup.list")
        with open(listed, "w") as f:
            f.write("alice@backup.test\nbob@backup.test\n")
        text = config(backup_mode="warn").replace('addresses = [ "alice@backup.test", "bob@backup.test" ];',
                                                    'addresses_file = "%s";' % listed)
        self.assertIn(listed, text)
        text += 'metrics = { listen = "inet:%d@127.0.0.1"; };\n' % free_port()
        m = Milter(work, config_text=text, name="logcheck")
        m.start()
        try:
            run = miltertest(message("127.0.0.1", "a@far.test", ["carol@backup.test"]), milter=m)
            self.assertRun(run, ["c"])  # warned: backup.test's list is in warn mode
            run = miltertest(message("203.0.113.9", "a@far.test", ["x@partner.test"]), milter=m)
            self.assertRun(run, ["y"])
            routine_end = m.log_offset()
            # Good reloads (routine): the config unchanged, then changed. Then a bad one (reported).
            m.reload()
            wait_for(lambda: "reloaded" in m.log_text()[routine_end:], 10, what="reload")
            changed_start = m.log_offset()
            m.write_config(text + "# changed\n")
            m.reload()
            wait_for(lambda: "reloaded" in m.log_text()[changed_start:], 10, what="reload")
            bad_start = m.log_offset()
            m.write_config('routes = ( { domain = "backup.test"; port = 99999; } );\n')
            m.reload()
            wait_for(lambda: "reload failed" in m.log_text()[bad_start:], 10, what="failed reload")
        finally:
            m.stop()
        log = m.log_text()
        # Run as root without milter.user, the daemon warns about its socket: a warning, reported.
        root_socket = [l for l in log.splitlines() if "belongs to root" in l]
        self.assertEqual(len(root_socket), 1, log)
        routine = [l for l in log[:bad_start].splitlines() if "belongs to root" not in l]
        bad = [l for l in log[bad_start:].splitlines() if "reload" in l and "SIGHUP" not in l] + root_socket
        for kind in (": reject: RCPT", ": warn: RCPT", "starting ", "reloaded ", "stopped"):
            self.assertTrue(any(kind in l for l in routine + log[bad_start:].splitlines()), kind)
        for stamp in ("Dec  2 06:00:00", "2026-12-02T06:00:00.123456+00:00"):
            with self.subTest(stamp):
                self.assertEqual(self.reported(self.as_syslog(routine, stamp)), [], "routine lines reported")
                kept = self.reported(self.as_syslog(bad, stamp))
                self.assertTrue(bad and len(kept) == len(bad), "failed reload lines ignored: %s" % bad)
                self.assertIn("reload failed", "\n".join(kept))
                self.assertIn("belongs to root", "\n".join(kept))
                self.assertEqual(self.reported(self.as_syslog(["route-milter: error: RCPT without a MAIL FROM context; "
                                                               "answering tempfail"], stamp))[0][-8:], "tempfail")


class NamedFileTests(MilterCase):
    """The files the config names (issue 24): whoever writes a list cannot make the daemon read
    or show another file, nor more than a word of a line of their own; a list saved on Windows
    lists its first address; a value with a control character is refused, not logged."""

    PASSWORD = "Milter-Route-Pa55w0rd"

    def tearDown(self):
        use_config(config())

    def listed_config(self, listed):
        return config().replace('addresses = [ "alice@backup.test", "bob@backup.test" ];',
                                'addresses_file = "%s";' % listed).replace(
            '{ domain = "partner.test"; ',
            '{ domain = "partner.test"; host = "mx.partner.test"; auth = { user = "relay"; password = "%s"; }; '
            % self.PASSWORD)

    def refused_reload(self, text=None):
        offset = MILTER.log_offset()
        if text is not None:
            MILTER.write_config(text)
        MILTER.reload()
        wait_for(lambda: re.search("reloaded |reload failed", MILTER.log_text()[offset:]), 10, what="reload outcome")
        log = MILTER.log_text()[offset:]
        self.assertIn("reload failed, keeping the running policy", log)
        self.assertNotIn(self.PASSWORD, log)
        self.assertRun(miltertest(message("127.0.0.1", "a@far.test", ["alice@backup.test", "carol@backup.test"])),
                       ["c", "y"], "the running policy")
        return log

    def list_in_force(self, content=b"alice@backup.test\n"):
        """A list in a directory of its own, named by the config in force; its path."""
        listed = os.path.join(tempfile.mkdtemp(dir=WORK), "backup.list")
        with open(listed, "wb") as f:
            f.write(content)
        use_config(self.listed_config(listed))
        return listed

    def checked(self):
        """route-milter -t on the config: exit 78; its report, which must not hold the password."""
        p = subprocess.run([MILTER.binary, "-t", "-c", MILTER.conf], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 78, p.stdout + p.stderr)
        self.assertNotIn(self.PASSWORD, p.stdout + p.stderr)
        return p.stderr

    def test_a_list_swapped_for_a_link_to_the_config_is_not_read(self):
        listed = self.list_in_force()
        nobody = pwd.getpwnam("nobody")
        for target in (MILTER.conf, os.path.relpath(MILTER.conf, os.path.dirname(listed))):
            with self.subTest(target):
                os.unlink(listed)
                os.symlink(target, listed)
                os.lchown(listed, nobody.pw_uid, nobody.pw_gid)
                why = "a symbolic link (%s) made by nobody (uid %d): only links that root or root (uid 0) made " \
                      "are followed" % (listed, nobody.pw_uid)
                self.assertIn(why, self.refused_reload())
                self.assertIn(why, self.checked())

    def test_errors_show_a_word_of_a_line_and_the_first_ten_lines(self):
        listed = self.list_in_force()
        with open(listed, "w") as f:
            f.write("alice@backup.test\n" + "".join("junk%d hidden-%d\n" % (i, i) for i in range(30)))
        for report in (self.refused_reload(), self.checked()):
            lines = [l for l in report.splitlines() if listed + ":" in l]
            self.assertEqual(len(lines), 11, report)
            self.assertIn(listed + ':2: ', lines[0])
            self.assertIn('("junk0", then more on the line)', lines[0])
            self.assertIn(listed + ":12: and 20 more bad lines from here on, not shown", lines[-1])
            self.assertNotIn("hidden", report)

    def test_a_list_saved_on_windows_lists_its_first_address(self):
        self.list_in_force(b"\xef\xbb\xbfalice@backup.test\r\nbob@backup.test\r\n")
        run = miltertest(message("127.0.0.1", "a@far.test", ["alice@backup.test", "bob@backup.test",
                                                             "carol@backup.test"]))
        self.assertRun(run, ["c", "c", "y"])

    def test_a_range_name_with_a_newline_is_refused_not_logged(self):
        forged = "route-milter: 4242: reject: RCPT from forged"
        text = config().replace('name = "Blocked";', 'name = "Blocked\\n%s";' % forged)
        self.assertIn(forged, text)
        log = self.refused_reload(text)
        self.assertNotIn("\n" + forged, log)
        self.assertIn('ip_ranges[2].name: a control character (shown as \\xNN) in a value that log lines and '
                      'routectl show ("Blocked\\x0a%s")' % forged, log)


class TcpRelay:
    """Forwards 127.0.0.1:PORT to (host, port): miltertest itself cannot connect over IPv6."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target, timeout=30)
                self.connections += 1
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        with contextlib.suppress(OSError):
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self):
        self.listener.close()


class SocketTests(MilterCase):
    """milter.socket / -p forms beyond the unix socket the other tests use."""

    def test_inet6_serves_and_stops_on_sigterm(self):
        port = free_port("::1")
        milter = Milter(WORK, config_text=config(), name="inet6", socket_spec="inet6:%d@::1" % port)
        milter.start()
        relay = TcpRelay("::1", port)
        try:
            self.assertIn("starting", milter.log_text())
            self.assertIn("on inet6:%d@::1" % port, milter.log_text())
            run = miltertest(message("::1", "a@far.test", ["alice@backup.test", "carol@backup.test"]),
                             socket_spec="inet:%d@127.0.0.1" % relay.port, milter=milter)
            self.assertRun(run, ["c", "y"])
            self.assertEqual(relay.connections, 1)
            # SIGTERM: libmilter's listener is woken over inet6 at once, not at its poll timeout.
            started = time.monotonic()
            rc = milter.stop(timeout=20)
            elapsed = time.monotonic() - started
        finally:
            relay.close()
            milter.stop()
        self.assertEqual(rc, 0, milter.log_text())
        self.assertIn("stopped", milter.log_text())
        self.assertLess(elapsed, 3.0, "stopping took %.1f s:\n%s" % (elapsed, milter.log_text()))
        self.assertFalse(port_open("::1", port), "still listening after SIGTERM")

    def test_bad_p_is_a_usage_error_before_anything_is_opened(self):
        conf = os.path.join(HERE, "..", "..", "conf", "route-milter.conf")
        for spec, shown in (("inet:http@127.0.0.1", "PORT a number 1..65535"),
                            ("inet6:8891@127.0.0.1", "an IPv4 host needs"),
                            ("tcp:8891", 'must be "unix:/path" or "inet:PORT@HOST"'),
                            ("unix:", "with a path")):
            for config_path in (conf, "/nonexistent/route-milter.conf"):  # not even read
                p = subprocess.run([MILTER.binary, "-p", spec, "-c", config_path, "-i", config_path + ".image"], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
                lines = p.stderr.splitlines()
                self.assertEqual(p.returncode, 64, "%s: %s" % (spec, p.stderr))
                self.assertEqual(len(lines), 1, p.stderr)
                self.assertIn("-p: ", lines[0])
                self.assertIn(shown, lines[0])
                self.assertIn('("%s")' % spec, lines[0])
                self.assertEqual(p.stdout, "")


CLASS_ORDER = [NegotiationTests, RuleTests, HostileAddressTests, ReloadTests, WarnModeTests, MetricsTests,
               StartupSignalTests, LogcheckTests, NamedFileTests, SocketTests]

if __name__ == "__main__":
    sys.exit(suite_runner.run(sys.modules[__name__], "milter", CLASS_ORDER, tearDownModule))
