"""route-milter against a real Postfix (see lab.py).

One private Postfix instance for the whole module; each test class starts its
own route-milter (same unix socket path, so Postfix needs no reload) with the
config it needs and stops it again.  Run as root:

    ROUTE_MILTER=build/route-milter tests/integration/run.sh
"""

import contextlib
import os
import re
import signal
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab import LabError, Milter, PostfixLab, cleanup_all, free_port, milter_binary, wait_for  # noqa: E402
import metrics_lab  # noqa: E402
from lab_relay import run_routectl  # noqa: E402
import address_differential  # noqa: E402
import address_scenarios  # noqa: E402
import rcpt_scenarios  # noqa: E402
import suite_runner  # noqa: E402

SASL_USER = "relayuser"
SASL_PASSWORD = "lab-Passw0rd"
AUTH = (SASL_USER, SASL_PASSWORD)
AUTH_FQ = (SASL_USER + "@lab.test", SASL_PASSWORD)

EXT_SENDER = "someone@outside.example"   # external sender (not a local domain, no route)
LOCAL_SENDER = "staff@lab.test"          # local sender (local_domains)

LAB = None

# route-milter drops to this user and hands it the 0660 socket; postfix must reach it.
MILTER_USER = "postfix"


def setUpModule():
    global LAB
    if os.geteuid() != 0:
        raise RuntimeError("the Postfix integration tests must run as root")
    binary = milter_binary()
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise RuntimeError("route-milter binary not found: %s (build it with make, or set ROUTE_MILTER)"
                           % binary)
    lab = PostfixLab(users={SASL_USER: SASL_PASSWORD})
    lab.milter_dir = None
    lab.start()
    try:
        lab.milter_dir = lab.path("milter")
        lab.milter_socket = "unix:" + os.path.join(lab.milter_dir, "route-milter.sock")
        lab.set_milter(lab.milter_socket)
        LAB = lab
        shared_milter()
    except BaseException:
        cleanup_all()
        LAB = None
        raise


def tearDownModule():
    global LAB, SHARED
    # SIGTERM all milters at once, then stop Postfix (lab.cleanup_all does both).
    cleanup_all()
    LAB = None
    SHARED = None


SHARED = None


def shared_milter():
    """The module's long-running milter on LAB.milter_socket (restarted if it was stopped)."""
    global SHARED
    if SHARED is None or not SHARED.running():
        if SHARED is not None:
            SHARED.stop()
        SHARED = start_milter(make_config(LAB.milter_socket), name="route-milter")
    return SHARED


def use_config(text, timeout=10.0):
    """Make the shared milter run config text: write it, SIGHUP, wait for "reloaded"."""
    m = shared_milter()
    offset = m.log_offset()
    m.write_config(text)
    m.reload()
    try:
        wait_for(lambda: re.search(r"reloaded .*%s" % re.escape(m.conf), m.log_text()[offset:])
                 or "failed" in m.log_text()[offset:], timeout, what="milter reload")
    except LabError:
        raise LabError("milter did not log a reload:\n" + m.log_text()[offset:])
    if not re.search(r"reloaded .*%s" % re.escape(m.conf), m.log_text()[offset:]):
        raise LabError("milter rejected the test config:\n" + m.log_text()[offset:])
    return m


# ---------------------------------------------------------------- configs

ALL_CLASSES = '[ "local-local", "local-external", "external-local", "external-external" ]'

IP_RANGES = """\
ip_ranges = (
  { name = "My computer"; lower = "127.0.0.1"; upper = "127.0.0.1"; priority = 30;
    allow = %(all)s;
    require_auth = [ "external-external" ]; },
  { name = "Internet"; lower = "0.0.0.0"; upper = "255.255.255.255"; priority = 10;
    allow = %(all)s;
    require_auth = [ "local-local", "local-external", "external-external" ]; }
);
""" % {"all": ALL_CLASSES}


def make_config(socket, listed=("alice@backup.test", "bob@backup.test"), scope="routes",
                extra_routes=""):
    addresses = ", ".join('"%s"' % a for a in listed)
    return """\
# route-milter integration test config
milter = { socket = "%(socket)s"; user = "%(user)s"; };
scope = "%(scope)s";
local_domains = [ "lab.test" ];
%(ranges)s
routes = (
  { domain = "backup.test"; description = "backup MX for a customer";
    treat_sender_as = "external"; treat_recipient_as = "local";
    deliver_to = "listed"; addresses = [ %(addresses)s ]; },
  { domain = "partner.test"; description = "smart-host partner";
    treat_sender_as = "external"; treat_recipient_as = "external";
    deliver_to = "all"; }%(extra)s
);
""" % {"socket": socket, "user": MILTER_USER, "scope": scope, "ranges": IP_RANGES, "addresses": addresses,
       "extra": extra_routes}


def start_milter(config_text, name="route-milter"):
    m = Milter(LAB.milter_dir, socket_spec=LAB.milter_socket, name=name, user=MILTER_USER)
    m.write_config(config_text)
    m.start()
    return m


def uniq(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


class LabTestCase(unittest.TestCase):
    milter = None

    def assertReply(self, reply, code, enhanced=None, text=None, msg=None):
        c, m = reply
        info = "%s (reply %r)" % (msg or "", reply)
        self.assertEqual(c, code, info)
        if enhanced is not None:
            self.assertTrue(m.startswith(enhanced), "expected enhanced status %s: %s" % (enhanced, info))
        if text is not None:
            self.assertIn(text, m, info)

    def rcpt(self, rcpt, sender=EXT_SENDER, auth=None):
        t = LAB.transaction(sender, [rcpt], auth=auth)
        self.assertEqual(t.mail[0], 250, "MAIL FROM failed: %r" % (t,))
        return t.rcpts[0]

    def milter_log_lines(self, needle):
        return [l for l in self.milter.log_text().splitlines() if needle in l]

    def wait_milter_log(self, predicate, timeout=5.0, what="milter log line"):
        try:
            wait_for(lambda: predicate(self.milter.log_text()), timeout, what=what)
        except LabError:
            self.fail("%s; milter log:\n%s" % (what, self.milter.log_text()))

    def dump_on_failure(self):
        """Extra context in failure messages."""
        return "\n--- milter log ---\n%s\n--- postfix log (tail) ---\n%s" % (
            self.milter.log_text() if self.milter else "", LAB.log_text()[-4000:])


class MilterClassMixin:
    """Runs the shared milter with cls.config() for the class (SIGHUP, no restart)."""

    @classmethod
    def config(cls):
        return make_config(LAB.milter_socket)

    @classmethod
    def setUpClass(cls):
        cls.milter = use_config(cls.config())

    @classmethod
    def tearDownClass(cls):
        cls.milter = None


# ---------------------------------------------------------------- tests

class RouteDecisionTests(MilterClassMixin, LabTestCase):
    """scope = "routes" with the standard config: rcpt_scenarios.SCENARIOS (the Sendmail suite runs them
    too), then the cases that are more than one RCPT reply (log lines, DATA, sessions)."""

    def test_rcpt_scenarios(self):
        rcpt_scenarios.run(self, "postfix", {rcpt_scenarios.AUTH: AUTH, rcpt_scenarios.AUTH_FQ: AUTH_FQ})

    def test_mixed_recipients_in_one_transaction_then_data(self):
        rcpts = ["alice@backup.test", "carol@backup.test", "x@partner.test", "someone@other.example",
                 "BOB@backup.test"]
        offset = LAB.log_offset()
        t = LAB.transaction(EXT_SENDER, rcpts, data=True)
        self.assertEqual(t.mail[0], 250, repr(t))
        self.assertReply(t.rcpts[0], 250, msg="alice")
        self.assertReply(t.rcpts[1], 550, "5.1.1", "<carol@backup.test>", msg="carol")
        self.assertReply(t.rcpts[2], 530, "5.7.0", msg="partner")
        self.assertReply(t.rcpts[3], 250, msg="non-route")
        self.assertReply(t.rcpts[4], 250, msg="BOB")
        self.assertIsNotNone(t.data, repr(t))
        self.assertEqual(t.data[0], 250, "DATA not accepted: %r%s" % (t, self.dump_on_failure()))
        m = re.search(r"queued as ([0-9A-Za-z]+)", t.data[1])
        self.assertIsNotNone(m, repr(t.data))
        qid = m.group(1)

        def delivered():
            log = LAB.log_since(offset)
            return all(re.search(r"%s: to=<%s>.*status=sent" % (qid, re.escape(a)), log, re.I)
                       for a in ("alice@backup.test", "someone@other.example", "bob@backup.test")) \
                and ("%s: removed" % qid) in log

        try:
            wait_for(delivered, 15, what="queue id %s discarded for all accepted recipients" % qid)
        except LabError as e:
            self.fail("%s\n%s" % (e, LAB.log_since(offset)))
        log = LAB.log_since(offset)
        self.assertRegex(log, r"%s: from=<%s>, size=\d+, nrcpt=3 " % (qid, re.escape(EXT_SENDER)))
        self.assertNotRegex(log, r"%s: to=<carol@backup\.test>" % qid)
        self.assertNotRegex(log, r"%s: to=<x@partner\.test>" % qid)
        # Postfix itself logs the milter's rejections.
        self.assertRegex(log, r"milter-reject: RCPT from [^:]*: 550 5\.1\.1 <carol@backup\.test>")
        self.assertRegex(log, r"milter-reject: RCPT from [^:]*: 530 5\.7\.0 ")

    def test_one_reject_log_line_per_rejection(self):
        unlisted = uniq("nolist") + "@backup.test"
        external = uniq("noauth") + "@partner.test"
        accepted = "alice@backup.test"
        offset = self.milter.log_offset()
        t1 = LAB.transaction(EXT_SENDER, [unlisted, accepted, external])
        t2 = LAB.transaction(EXT_SENDER, [unlisted])
        self.assertEqual(t1.rcpt_codes, [550, 250, 530], repr(t1))
        self.assertEqual(t2.rcpt_codes, [550], repr(t2))

        def complete(log):
            return (len([l for l in log.splitlines() if "<%s>" % unlisted in l and "reject" in l]) >= 2
                    and any("<%s>" % external in l and "reject" in l for l in log.splitlines()))

        self.wait_milter_log(complete, what="reject lines for %s and %s" % (unlisted, external))
        time.sleep(0.2)  # anything extra would show up now
        lines_unlisted = self.milter_log_lines("<%s>" % unlisted)
        lines_external = self.milter_log_lines("<%s>" % external)
        self.assertEqual(len(lines_unlisted), 2, "\n".join(lines_unlisted))
        self.assertEqual(len(lines_external), 1, "\n".join(lines_external))
        for line in lines_unlisted:
            self.assertIn("reject", line)
            self.assertIn("550 5.1.1", line)
            self.assertIn("to=<%s>" % unlisted, line)
            self.assertIn("from=<%s>" % EXT_SENDER, line)
            self.assertRegex(line, r"\brule=not-listed\b")
            self.assertRegex(line, r' route="backup\.test \(line \d+\)" ')
            self.assertRegex(line, r"RCPT from unknown\[127\.0\.0\.1\]: 550 ")
            self.assertNotIn("class=", line)  # no delivery class is computed before rule 1
        line = lines_external[0]
        self.assertIn("reject", line)
        self.assertIn("530 5.7.0", line)
        self.assertIn("to=<%s>" % external, line)
        self.assertRegex(line, r"\brule=[a-z][a-z0-9-]*")
        self.assertNotRegex(line, r"\brule=not-listed\b")
        self.assertRegex(line, r' route="partner\.test \(line \d+\)" ')
        self.assertRegex(line, r' range="My computer"( |$)')
        self.assertRegex(line, r"\bclass=external-external$")
        # accepted recipients are not logged as rejections
        self.assertEqual([l for l in self.milter.log_text()[offset:].splitlines()
                          if "reject" in l and "<%s>" % accepted in l], [])

    def test_many_recipients_and_sessions(self):
        # Same session, several transactions; pipelined-ish sequential use of one connection.
        s = LAB.session()
        try:
            for i in range(3):
                t = LAB.transaction(EXT_SENDER, ["alice@backup.test", "zed%d@backup.test" % i,
                                                 "x@partner.test"], smtp=s)
                self.assertEqual(t.rcpt_codes, [250, 550, 530], repr(t))
        finally:
            with contextlib.suppress(Exception):
                s.quit()


class ScopeAllTests(MilterClassMixin, LabTestCase):
    @classmethod
    def config(cls):
        return make_config(LAB.milter_socket, scope="all")

    def test_non_route_domain_judged(self):
        # external sender -> external recipient (no route) from 127.0.0.1: auth required
        self.assertReply(self.rcpt("someone@other.example"), 530, "5.7.0",
                         "SMTP authentication is required.")

    def test_non_route_domain_with_auth(self):
        self.assertReply(self.rcpt("someone@other.example", auth=AUTH), 250)

    def test_local_domain_recipient_unauthenticated(self):
        # external-local: allowed without auth
        self.assertReply(self.rcpt("postmaster@lab.test"), 250)

    def test_local_sender_to_external(self):
        # local-external: allowed without auth from "My computer"
        self.assertReply(self.rcpt("someone@other.example", sender=LOCAL_SENDER), 250)

    def test_routes_still_apply(self):
        self.assertReply(self.rcpt("alice@backup.test"), 250)
        self.assertReply(self.rcpt("carol@backup.test"), 550, "5.1.1")
        self.assertReply(self.rcpt("x@partner.test"), 530, "5.7.0")


class WarnModeTests(MilterClassMixin, LabTestCase):
    """mode = "warn" through the real Postfix: nothing refused by policy, each refusal logged once."""

    @classmethod
    def config(cls):
        # Top level warns, partner.test still enforces.
        return make_config(LAB.milter_socket).replace('scope = "routes";', 'scope = "routes";\nmode = "warn";').replace(
            'deliver_to = "all"; }', 'deliver_to = "all"; mode = "enforce"; }')

    def test_would_be_refusals_pass_and_are_logged(self):
        rcpt = uniq("carol") + "@backup.test"
        offset = self.milter.log_offset()
        t = LAB.transaction(EXT_SENDER, [rcpt, "alice@backup.test"], data=True)
        self.assertEqual(t.rcpt_codes, [250, 250], "%r%s" % (t, self.dump_on_failure()))
        self.assertEqual(t.data[0], 250, "%r%s" % (t, self.dump_on_failure()))
        log = self.milter.log_text()[offset:]
        warns = [l for l in log.splitlines() if ": warn: RCPT from " in l]
        self.assertEqual(len(warns), 1, log)
        self.assertRegex(warns[0], r"(?:[0-9A-F]+|NOQUEUE): warn: RCPT from \S+\[127\.0\.0\.1\]: would reject: "
                         r"550 5\.1\.1 <%s>: Recipient not in route list\.; from=<%s> to=<%s> rule=not-listed "
                         r"route=\"backup\.test \(line \d+\)\" range=\"My computer\"" % (re.escape(rcpt), re.escape(EXT_SENDER),
                                                                              re.escape(rcpt)))
        self.assertNotIn(": reject: ", log)

    def test_a_route_in_enforce_mode_still_refuses(self):
        offset = self.milter.log_offset()
        self.assertReply(self.rcpt("x@partner.test"), 530, "5.7.0", "SMTP authentication is required.")
        self.assertIn(": reject: RCPT from ", self.milter.log_text()[offset:])

    def test_a_comment_is_warned_as_the_plain_address(self):
        # Postfix's reading drops the comment: the milter warns about abuse@backup.test, the
        # address Postfix would deliver to. (An address that cannot be read at all still gets
        # 501 in warn mode: the milter suite, which can send one without Postfix's reading.)
        offset = self.milter.log_offset()
        self.assertReply(self.rcpt("abuse@backup.test(x)"), 250)
        self.assertRegex(self.milter.log_text()[offset:], r": warn: RCPT from .*: would reject: 550 5\.1\.1 "
                         r"<abuse@backup\.test>: .* to=<abuse@backup\.test> rule=not-listed")


class WarnRouteKeepsRangeRulesTests(MilterClassMixin, LabTestCase):
    """A route's warn mode rehearses its own address list only: a "*" (or wildcard) route in warn
    mode must not turn "relaying needs AUTH" into a warning for every domain it covers."""

    @classmethod
    def config(cls):
        return make_config(LAB.milter_socket, extra_routes=(
            ',\n  { domain = "*"; mode = "warn"; },'
            '\n  { domain = "*.wild.test"; mode = "warn"; deliver_to = "listed"; addresses = [ "ok@a.wild.test" ]; }'))

    def test_unauthenticated_relaying_through_a_warn_catch_all_is_refused(self):
        offset = self.milter.log_offset()
        rcpt = uniq("x") + "@elsewhere.example"
        t = LAB.transaction(EXT_SENDER, [rcpt], data=True)
        self.assertEqual(t.mail[0], 250, "%r" % (t,))
        self.assertReply(t.rcpts[0], 530, "5.7.0", "SMTP authentication is required.", self.dump_on_failure())
        self.assertIsNone(t.data, "nothing may be queued")
        log = self.milter.log_text()[offset:]
        self.assertRegex(log, r": reject: RCPT from \S+\[127\.0\.0\.1\]: 530 5\.7\.0 .*to=<%s> rule=auth-required "
                              r"route=\"\* \(line \d+\)\"" % re.escape(rcpt))
        self.assertNotIn(": warn: ", log)
        self.assertFalse([l for l in LAB.log_text().splitlines() if "to=<%s>" % rcpt in l and "status=" in l],
                         "Postfix must not have queued mail to %s" % rcpt)
        # With AUTH the "*" route relays it.
        self.assertReply(self.rcpt(rcpt, auth=AUTH), 250)

    def test_a_warn_wildcard_rehearses_its_list_and_enforces_the_ranges(self):
        offset = self.milter.log_offset()
        # Not listed: the route's own rule, rehearsed (logged, let through).
        self.assertReply(self.rcpt("carol@a.wild.test"), 250)
        self.assertIn('rule=not-listed route="*.wild.test (line ', self.milter.log_text()[offset:])
        self.assertIn(": warn: RCPT from ", self.milter.log_text()[offset:])
        # Listed, relayed without AUTH: the range's rule, enforced.
        self.assertReply(self.rcpt("ok@a.wild.test"), 530, "5.7.0")


class MetricsTests(LabTestCase):
    """Real SMTP through the real Postfix, then a scrape: promtool-checked and counted by value."""

    @classmethod
    def config(cls, mode=None):
        text = make_config(LAB.milter_socket)
        if mode:
            text = text.replace('scope = "routes";', 'scope = "routes";\nmode = "%s";' % mode)
        return text + 'metrics = { listen = "inet:%d@127.0.0.1"; };\n' % cls.port

    @classmethod
    def setUpClass(cls):
        # Metrics are set at start: this class runs its own milter on the shared socket.
        global SHARED
        if SHARED is not None:
            SHARED.stop()
            SHARED = None
        cls.port = free_port()
        cls.milter = start_milter(cls.config(), name="route-milter-metrics")

    @classmethod
    def tearDownClass(cls):
        cls.milter.stop()
        cls.milter = None
        shared_milter()

    def scrape(self):
        text = metrics_lab.scrape(self.port)
        metrics_lab.promtool_check(text)
        return metrics_lab.parse(text)

    def decisions(self, samples, rule, route, mode="enforce"):
        return metrics_lab.value(samples, "route_milter_decisions_total", rule=rule, route=route, mode=mode)

    def test_rejections_and_sessions_counted_per_route(self):
        before = self.scrape()
        for _ in range(4):
            t = LAB.transaction(EXT_SENDER, [uniq("carol") + "@backup.test", "alice@backup.test"])
            self.assertEqual(t.rcpt_codes, [550, 250], repr(t) + self.dump_on_failure())
        for _ in range(2):
            t = LAB.transaction(EXT_SENDER, ["x@partner.test"])
            self.assertEqual(t.rcpt_codes, [530], repr(t))
        t = LAB.transaction(EXT_SENDER, ["x@partner.test"], auth=AUTH)
        self.assertEqual(t.rcpt_codes, [250], repr(t))
        after = self.scrape()

        def delta(rule, route, mode="enforce"):
            return self.decisions(after, rule, route, mode) - self.decisions(before, rule, route, mode)
        self.assertEqual(delta("not-listed", "backup.test"), 4, self.dump_on_failure())
        self.assertEqual(delta("no-objection", "backup.test"), 4)
        self.assertEqual(delta("auth-required", "partner.test"), 2)
        self.assertEqual(delta("no-objection", "partner.test"), 1)
        value = metrics_lab.value
        self.assertEqual(value(after, "route_milter_rcpt_total") - value(before, "route_milter_rcpt_total"), 11)
        # One milter connection per SMTP session.
        self.assertEqual(value(after, "route_milter_connections_total") - value(before, "route_milter_connections_total"), 7)
        self.assertEqual(value(after, "route_milter_routes"), 2)
        self.assertEqual(value(after, "route_milter_listed_addresses"), 2)

    def stats_row(self, out, route):
        for line in out.splitlines():
            fields = line.split()
            if fields and fields[0] == route:
                return [int(f) for f in fields[1:]]
        self.fail("no row for %s in:\n%s" % (route, out))

    def test_routectl_stats_prints_the_counters_per_route(self):
        for _ in range(2):
            LAB.transaction(EXT_SENDER, [uniq("carol") + "@backup.test", "alice@backup.test", "x@partner.test"])
        samples = self.scrape()
        r = run_routectl("stats", "-c", self.milter.conf)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("http://127.0.0.1:%d/metrics" % self.port, r.stdout)
        digest = metrics_lab.series(samples, "route_milter_config_info")[0][0]["digest"]
        self.assertIn("config digest %s; 2 routes (0 in warn mode)" % digest, r.stdout)
        self.assertIn("route accepted not-listed not-allowed auth-required warned other", " ".join(r.stdout.split()))
        # Columns: accepted, not-listed, not-allowed, auth-required, warned, other.
        d = lambda rule, route, mode="enforce": int(self.decisions(samples, rule, route, mode))  # noqa: E731
        self.assertEqual(self.stats_row(r.stdout, "backup.test"),
                         [d("no-objection", "backup.test"), d("not-listed", "backup.test"), 0, 0,
                          d("not-listed", "backup.test", "warn"), 0])
        self.assertEqual(self.stats_row(r.stdout, "partner.test")[3], d("auth-required", "partner.test"))
        self.assertGreaterEqual(d("not-listed", "backup.test"), 2)
        total = self.stats_row(r.stdout, "total")
        self.assertEqual(sum(total), int(metrics_lab.value(samples, "route_milter_rcpt_total")))

    def test_routectl_stats_without_metrics_or_daemon(self):
        no_metrics = os.path.join(LAB.milter_dir, "no-metrics.conf")
        with open(no_metrics, "w") as f:
            f.write(make_config(LAB.milter_socket))
        os.chmod(no_metrics, 0o600)
        r = run_routectl("stats", "-c", no_metrics)
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn("has no metrics group", r.stderr)
        r = run_routectl("stats", "-c", no_metrics, "--url", "http://127.0.0.1:%d/metrics" % free_port())
        self.assertEqual(r.returncode, 69, r.stdout + r.stderr)
        self.assertIn("cannot read the daemon's counters", r.stderr)
        r = run_routectl("stats", "--url", "http://127.0.0.1:%d/nothing" % self.port)
        self.assertEqual(r.returncode, 69, r.stdout + r.stderr)
        self.assertIn("HTTP status 404", r.stderr)

    def test_warn_mode_and_a_failed_reload_are_counted(self):
        first = self.scrape()
        offset = self.milter.log_offset()
        self.milter.write_config(self.config(mode="warn"))
        self.milter.reload()
        self.wait_milter_log(lambda log: "reloaded" in log[offset:], what="reload to warn mode")
        try:
            for _ in range(3):
                self.assertReply(self.rcpt(uniq("carol") + "@backup.test"), 250)
            warned = self.scrape()
            self.assertEqual(self.decisions(warned, "not-listed", "backup.test", "warn")
                             - self.decisions(first, "not-listed", "backup.test", "warn"), 3)
            self.assertEqual(metrics_lab.value(warned, "route_milter_reloads_total", result="ok")
                             - metrics_lab.value(first, "route_milter_reloads_total", result="ok"), 1)
            offset = self.milter.log_offset()
            self.milter.write_config("this is { not libconfig\n")
            self.milter.reload()
            self.wait_milter_log(lambda log: "reload failed" in log[offset:], what="failed reload")
            failed = self.scrape()
            self.assertEqual(metrics_lab.value(failed, "route_milter_reloads_total", result="failed")
                             - metrics_lab.value(first, "route_milter_reloads_total", result="failed"), 1)
            self.assertEqual(metrics_lab.value(failed, "route_milter_config_last_reload_successful"), 0)
            # The failed reload kept warn mode.
            self.assertReply(self.rcpt(uniq("carol") + "@backup.test"), 250)
        finally:
            offset = self.milter.log_offset()
            self.milter.write_config(self.config())
            self.milter.reload()
            self.wait_milter_log(lambda log: "reloaded" in log[offset:], what="reload back to enforce")
        self.assertEqual(metrics_lab.value(self.scrape(), "route_milter_config_last_reload_successful"), 1)


class NotAllowedTests(MilterClassMixin, LabTestCase):
    """A range that does not allow external-external at all -> 550 5.7.1."""

    @classmethod
    def config(cls):
        text = make_config(LAB.milter_socket)
        return text.replace(
            'allow = %s;\n    require_auth = [ "external-external" ]; }' % ALL_CLASSES,
            'allow = [ "local-local", "local-external", "external-local" ];\n'
            '    require_auth = [ ]; }', 1)

    def test_config_was_changed(self):
        self.assertIn('allow = [ "local-local", "local-external", "external-local" ]',
                      self.milter_conf_text())

    def milter_conf_text(self):
        with open(self.milter.conf) as f:
            return f.read()

    def test_external_external_not_allowed(self):
        self.assertReply(self.rcpt("x@partner.test"), 550, "5.7.1",
                         "Delivery is not allowed to this address.")
        # not even with AUTH: the class is not allowed at all
        self.assertReply(self.rcpt("x@partner.test", auth=AUTH), 550, "5.7.1")

    def test_listed_check_comes_first(self):
        self.assertReply(self.rcpt("carol@backup.test"), 550, "5.1.1")
        self.assertReply(self.rcpt("alice@backup.test"), 250)


class HostileAddressTests(MilterClassMixin, LabTestCase):
    """address_scenarios.SCENARIOS through the real Postfix (comments, own domains, postmaster...)."""

    @classmethod
    def config(cls):
        return address_scenarios.config(LAB.milter_socket, MILTER_USER)

    def test_scenarios(self):
        for name, sender, rcpt, code, enhanced in address_scenarios.SCENARIOS:
            with self.subTest(name):
                t = LAB.transaction(sender, [rcpt])
                address_scenarios.check(self, "postfix", name, sender, rcpt, code, enhanced, t)

    def test_postfix_itself_takes_the_comment_forms(self):
        # Why it matters: without the milter's word, Postfix accepts <ceo@own.test(x)> and logs
        # the address without the comment (tok822 moved it out).
        offset = LAB.log_offset()
        t = LAB.transaction("ceo@own.test(x)", ["postmaster"], data=True)
        self.assertEqual(t.mail[0], 250, repr(t))
        self.assertEqual(t.rcpt_codes, [250], repr(t))
        wait_for(lambda: re.search(r"from=<ceo@own\.test>", LAB.log_since(offset)), 10,
                 what="Postfix logging the sender without its comment")

    def test_the_address_postfix_read_is_judged_and_logged(self):
        # Postfix queues <ceo@own.test;> and <bob@backup.test (x)> as the plain addresses; the milter
        # judges and logs those ({mail_addr}, {rcpt_addr}), as Postfix's own reject line does.
        offset, postfix_offset = self.milter.log_offset(), LAB.log_offset()
        t = LAB.transaction("ceo@own.test;", ["staff@own.test", "abuse@backup.test (x)"])
        self.assertEqual(t.rcpt_codes, [530, 550], repr(t))
        self.wait_milter_log(lambda log: log[offset:].count("reject: RCPT") == 2, what="two reject log lines")
        lines = [l for l in self.milter.log_text()[offset:].splitlines() if "reject: RCPT" in l]
        self.assertIn("from=<ceo@own.test> to=<staff@own.test> rule=auth-required", lines[0])
        self.assertIn("<abuse@backup.test>: Recipient not in route list.; from=<ceo@own.test> to=<abuse@backup.test> "
                      "rule=not-listed", lines[1])
        wait_for(lambda: "to=<abuse@backup.test>" in LAB.log_since(postfix_offset), 10, what="Postfix's reject line")


class AddressDifferentialTests(unittest.TestCase):
    """address_differential.py through a Postfix of its own (no error-limit sleeps, SMTPUTF8 on):
    for every generated argument Postfix accepts, the milter judged the address Postfix logged
    and queued, and gave the verdict of that plain address."""

    @classmethod
    def setUpClass(cls):
        cls.lab = PostfixLab(extra_main={"smtpd_error_sleep_time": "0", "smtpd_soft_error_limit": "100000",
                                         "smtpd_hard_error_limit": "100000", "smtputf8_enable": "yes",
                                         "smtpd_junk_command_limit": "100000"})
        cls.lab.start()
        try:
            sock = "unix:" + cls.lab.path("milter", "route-milter.sock")
            cls.lab.set_milter(sock)
            cls.milter = Milter(cls.lab.path("milter"), socket_spec=sock, name="differential", user=MILTER_USER)
            cls.milter.write_config(address_differential.config(sock, MILTER_USER))
            cls.milter.start()
        except BaseException:
            cls.lab.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.milter.stop()
        cls.lab.stop()

    def use(self, text):
        offset = self.milter.log_offset()
        self.milter.write_config(text)
        self.milter.reload()
        wait_for(lambda: "reloaded" in self.milter.log_text()[offset:], 10, what="milter reload")

    def test_the_milter_judges_what_postfix_delivers(self):
        self.maxDiff = None
        ad = address_differential
        transactions = ad.generate()
        config = ad.config(self.milter.socket_spec, MILTER_USER)
        # Enforce: the verdicts, and Postfix's own account of the refusals.
        self.use(config)
        offset = os.path.getsize(self.lab.maillog)
        records = ad.run(self.lab.host, self.lab.port, self.milter, transactions)
        maillog = ad.wait_for_deliveries(lambda: ad.text_since(self.lab.maillog, offset),
                                         {r.qid for r in records if r.qid})
        problems = ad.postfix_rejection_mismatches(records, maillog)
        ad.replay_plain(self.lab.host, self.lab.port, records)
        problems += [ad.describe(r, "verdict %r for the plain address" % (r.plain_reply,))
                     for r in ad.verdict_mismatches(records)]
        # Warn: Postfix queues every recipient it takes, so each judged address meets the one
        # Postfix queued and delivered.
        self.use(config.replace('scope = "all";', 'scope = "all";\nmode = "warn";'))
        offset = os.path.getsize(self.lab.maillog)
        warned = ad.run(self.lab.host, self.lab.port, self.milter, transactions)
        maillog = ad.wait_for_deliveries(lambda: ad.text_since(self.lab.maillog, offset),
                                         {r.qid for r in warned if r.qid})
        delivery_problems, queued = ad.postfix_delivery_mismatches(warned, maillog)
        problems += delivery_problems
        problems += [ad.describe(r, "judged otherwise in warn mode") for r in ad.judged_the_same(records, warned)]
        report = ad.summary(records) + "; warn mode: %d messages queued, %d recipients" % (
            queued, sum(1 for r in warned if r.qid and 200 <= r.reply[0] < 300))
        print("\n    " + report, file=sys.stderr)
        self.assertEqual(problems[:20], [], report)
        judged = [r for r in records if r.judged is not None]
        # The generator must reach every outcome, or the comparison proves little.
        self.assertGreater(len(records), 1500, report)
        self.assertGreater(len(judged), 900, report)
        self.assertGreater(sum(r.plain_reply is not None for r in records), 900, report)
        self.assertTrue({250, 530, 550} <= {r.reply[0] for r in judged}, report)
        self.assertGreater(queued, 150, report)


class ReloadTests(LabTestCase):
    """SIGHUP reload, good and bad, on the shared milter (standard config before each test)."""

    def setUp(self):
        self.milter = use_config(make_config(LAB.milter_socket))
        self.pid = self.milter.proc.pid

    def tearDown(self):
        # every reload test must leave the same process running
        self.assertTrue(self.milter.running() and self.milter.proc.pid == self.pid,
                        "milter died or was restarted:\n" + self.milter.log_text()[-3000:])
        self.milter = None

    def test_reload_under_load(self):
        stop = threading.Event()
        problems = []
        sessions = [0]

        def hammer():
            # Recipients whose verdict is the same before and after the reload.
            rcpts = ["bob@backup.test", "someone@other.example", "x@partner.test"]
            expected = [250, 250, 530]
            while not stop.is_set():
                try:
                    t = LAB.transaction(EXT_SENDER, rcpts)
                    if t.mail[0] != 250 or t.rcpt_codes != expected:
                        problems.append(repr(t))
                except Exception as e:  # noqa: BLE001 - any error is a finding
                    problems.append("%s: %s" % (type(e).__name__, e))
                sessions[0] += 1

        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(3)]
        for th in threads:
            th.start()
        try:
            wait_for(lambda: sessions[0] >= 10, 20, what="background sessions running")
            self.assertReply(self.rcpt("alice@backup.test"), 250)
            self.assertReply(self.rcpt("carol@backup.test"), 550, "5.1.1")
            before = sessions[0]
            offset = self.milter.log_offset()
            self.milter.write_config(make_config(LAB.milter_socket,
                                                 listed=("carol@backup.test", "bob@backup.test")))
            self.milter.reload()
            try:
                wait_for(lambda: self.rcpt("carol@backup.test")[0] == 250, 10, interval=0.1,
                         what="carol accepted after reload")
            except LabError as e:
                self.fail("%s%s" % (e, self.dump_on_failure()))
            self.assertReply(self.rcpt("carol@backup.test"), 250)
            self.assertReply(self.rcpt("CAROL@backup.test"), 250)
            self.assertReply(self.rcpt("alice@backup.test"), 550, "5.1.1")
            self.assertTrue(self.milter.running())
            self.assertRegex(self.milter.log_text()[offset:], r"(?i)reload",
                             "milter did not log the reload")
            # keep the load going a little after the reload too
            wait_for(lambda: sessions[0] >= before + 10, 20, what="sessions after reload")
        finally:
            stop.set()
            for th in threads:
                th.join(30)
        self.assertFalse(any(th.is_alive() for th in threads), "background sessions hung")
        self.assertEqual(problems, [], "background sessions saw errors during reload:\n%s"
                         % "\n".join(problems[:20]))
        self.assertGreaterEqual(sessions[0], 20)

    def _bad_reload(self, text, line, needle=None):
        self.assertReply(self.rcpt("alice@backup.test"), 250)
        self.assertReply(self.rcpt("carol@backup.test"), 550, "5.1.1")
        offset = self.milter.log_offset()
        self.milter.write_config(text)
        self.milter.reload()
        name = os.path.basename(self.milter.conf)
        where = "%s:%d" % (name, line)
        self.wait_milter_log(lambda log: where in log[offset:], timeout=5,
                             what="milter log naming %s" % where)
        after = self.milter.log_text()[offset:]
        if needle:
            self.assertIn(needle, after)
        time.sleep(0.3)
        self.assertTrue(self.milter.running(), "milter died on a bad reload:\n" + self.milter.log_text())
        # old policy still in force
        self.assertReply(self.rcpt("alice@backup.test"), 250)
        self.assertReply(self.rcpt("carol@backup.test"), 550, "5.1.1")
        self.assertReply(self.rcpt("x@partner.test"), 530, "5.7.0")
        self.assertReply(self.rcpt("x@partner.test", auth=AUTH), 250)
        return after

    def test_bad_reload_syntax_error_keeps_old_config(self):
        good = make_config(LAB.milter_socket, listed=("carol@backup.test",))
        lines = good.splitlines()
        # Break the line that opens the routes list: a setting without a value.
        idx = next(i for i, l in enumerate(lines) if l.startswith("routes = ("))
        lines.insert(idx, "broken_setting = ;")
        self._bad_reload("\n".join(lines) + "\n", idx + 1)

    def test_bad_reload_unknown_key_keeps_old_config(self):
        good = make_config(LAB.milter_socket, listed=("carol@backup.test",))
        lines = good.splitlines()
        # inside the backup.test route group, before its last line
        idx = next(i for i, l in enumerate(lines) if "deliver_to = \"listed\"" in l)
        lines.insert(idx, "    colour = \"blue\";")
        after = self._bad_reload("\n".join(lines) + "\n", idx + 1, needle="colour")
        self.assertNotIn("syntax error", after)

    def test_bad_reload_then_good_reload(self):
        offset = self.milter.log_offset()
        self.milter.write_config("this is { not libconfig\n")
        self.milter.reload()
        self.wait_milter_log(lambda log: "route-milter.conf:1" in log[offset:],
                             what="syntax error at line 1")
        self.assertTrue(self.milter.running())
        self.assertReply(self.rcpt("alice@backup.test"), 250)
        self.milter.write_config(make_config(LAB.milter_socket, listed=("carol@backup.test",)))
        self.milter.reload()
        try:
            wait_for(lambda: self.rcpt("carol@backup.test")[0] == 250, 10, interval=0.1,
                     what="carol accepted after good reload")
        except LabError as e:
            self.fail("%s%s" % (e, self.dump_on_failure()))
        self.assertReply(self.rcpt("alice@backup.test"), 550, "5.1.1")


class MilterDownTests(LabTestCase):
    """Stop the shared milter (SIGTERM) and check Postfix tempfails; then restart it.

    One test: libmilter may take up to ~5 s to act on SIGTERM, so stop only once.
    """

    def test_milter_down_tempfails_and_comes_back(self):
        global SHARED
        self.milter = use_config(make_config(LAB.milter_socket))
        # A session that is connected to the milter when it goes away.
        s = LAB.session()
        try:
            t = LAB.transaction(EXT_SENDER, ["alice@backup.test"], smtp=s)
            self.assertEqual(t.rcpt_codes, [250], repr(t))
            code, _ = s.docmd("MAIL FROM:<%s>" % EXT_SENDER)
            self.assertEqual(code, 250)

            rc = self.milter.stop()
            SHARED = None
            with self.subTest("SIGTERM: clean exit"):
                self.assertEqual(rc, 0, "exit status after SIGTERM\n" + self.milter.log_text())
                self.assertFalse(self.milter.running())
            with self.subTest("no sanitizer reports (ASan/UBSan builds)"):
                self.assertNotRegex(self.milter.log_text(),
                                    r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:")

            with self.subTest("milter dies mid-session: RCPT tempfails"):
                code, msg = s.docmd("RCPT TO:<alice@backup.test>")
                self.assertTrue(400 <= code < 500, "RCPT with milter gone: %r %r" % (code, msg))
        finally:
            with contextlib.suppress(Exception):
                s.close()

        with self.subTest("milter down: new sessions tempfail, nothing accepted"):
            for rcpts, auth in ((["alice@backup.test"], None), (["carol@backup.test"], None),
                                (["x@partner.test", "someone@other.example"], None),
                                (["x@partner.test"], AUTH)):
                try:
                    t = LAB.transaction(EXT_SENDER, rcpts, auth=auth)
                except Exception as e:  # AUTH itself is tempfailed (454) by Postfix
                    self.assertIn("454", str(e))
                    continue
                # milter_default_action = tempfail: Postfix answers 4xx as soon as it knows
                # the milter is unreachable -- for a new session that is at MAIL FROM.
                self.assertTrue(400 <= t.mail[0] < 500 or all(400 <= c < 500 for c in t.rcpt_codes),
                                "expected a tempfail: %r" % (t,))
                self.assertFalse(any(200 <= c < 300 for c in t.rcpt_codes),
                                 "accepted while milter down: %r" % (t,))
            self.assertRegex(LAB.log_text(), r"(?i)connect to Milter service .*(No such file|refused)")

        with self.subTest("milter back up"):
            self.milter = shared_milter()
            self.assertReply(self.rcpt("alice@backup.test"), 250)
            self.assertReply(self.rcpt("carol@backup.test"), 550, "5.1.1")


class InetSocketTests(LabTestCase):
    """The milter on an inet socket (Postfix reloaded to point at it, then back)."""

    @classmethod
    def setUpClass(cls):
        from lab import free_port
        port = free_port()
        spec = "inet:%d@127.0.0.1" % port
        cls.milter = Milter(LAB.milter_dir, socket_spec=spec, name="inet-milter", user=MILTER_USER)
        cls.milter.write_config(make_config(spec))
        cls.milter.start()
        try:
            LAB.set_milter(cls.milter.postfix_socket)
        except BaseException:
            cls.milter.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            LAB.set_milter(LAB.milter_socket)
        finally:
            # Don't wait for libmilter to notice SIGTERM; cleanup_all() reaps it at the end.
            cls.milter.terminate()
            cls.milter = None

    def test_inet_socket_decisions(self):
        t = LAB.transaction(EXT_SENDER, ["alice@backup.test", "carol@backup.test", "x@partner.test"])
        self.assertEqual(t.rcpt_codes, [250, 550, 530], repr(t) + self.dump_on_failure())
        t = LAB.transaction(EXT_SENDER, ["x@partner.test"], auth=AUTH)
        self.assertEqual(t.rcpt_codes, [250], repr(t) + self.dump_on_failure())


# Run order: the concurrent reload test leaves Postfix's cleanup pool slow to accept
# (about 1 s per new queue file; Postfix-internal, also without any milter), so the
# tests with many accepted recipients run first.
CLASS_ORDER = [RouteDecisionTests, ScopeAllTests, WarnModeTests, WarnRouteKeepsRangeRulesTests, MetricsTests,
               NotAllowedTests, HostileAddressTests, AddressDifferentialTests, InetSocketTests, ReloadTests,
               MilterDownTests]


if __name__ == "__main__":
    sys.exit(suite_runner.run(sys.modules[__name__], "integration", CLASS_ORDER, cleanup_all))
