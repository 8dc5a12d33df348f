"""Issue 11 through a real Postfix: a route's hosts tried in order, ETRN routes, and each
route's connection security proven on the wire (see lab.py, lab_relay.py).

Postfix A gets its routes from `routectl postfix` (snippets applied as an admin would); the
route targets are SMTP sinks on 127.0.0.1 (tests/sendmail/smtp_sink.py), so what crossed the
wire (TLS or not, AUTH before or after it) is seen where it arrives. Run as root:

    ROUTECTL=build/routectl tests/integration/run.sh FailoverTests EtrnTests ...
"""

import os
import re
import shutil
import smtplib
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab import LabError, Milter, PostfixLab, cleanup_all, wait_for  # noqa: E402
import suite_runner  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sendmail"))
from smtp_sink import SmtpSink, make_test_pki  # noqa: E402
from lab_relay import RelayLab, routectl_binary, run_routectl, write_config  # noqa: E402

USER = "relay"
PASSWORD = "Route-Passw0rd-11"
TMP = None


def setUpModule():
    global TMP
    if os.geteuid() != 0:
        raise RuntimeError("the Postfix integration tests must run as root")
    if not os.access(routectl_binary(), os.X_OK):
        raise RuntimeError("routectl binary not found: %s" % routectl_binary())
    TMP = tempfile.mkdtemp(prefix="route-delivery-")
    os.chmod(TMP, 0o755)


def tearDownModule():
    cleanup_all()
    if TMP and not os.environ.get("LAB_KEEP"):
        shutil.rmtree(TMP, ignore_errors=True)


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(v, (list, tuple)):
        return "[ %s ]" % ", ".join(_value(x) for x in v)
    if isinstance(v, dict):
        return "{ %s }" % " ".join("%s = %s;" % (k, _value(x)) for k, x in v.items())
    raise TypeError(v)


def config_text(routes, extra=""):
    out = ['milter = { socket = "unix:/run/route-milter/route-milter.sock"; };', 'scope = "routes";', extra,
           "routes = ("]
    out.append(",\n".join("  { %s }" % " ".join("%s = %s;" % (k, _value(v)) for k, v in r.items()) for r in routes))
    out.append(");")
    return "\n".join(out) + "\n"


def lab_with_routes(name, routes, overrides=None, **lab_kw):
    """A RelayLab whose routes come from `routectl postfix --postmap` (snippets applied)."""
    conf = write_config(os.path.join(TMP, name + ".conf"), config_text(routes))
    lab = RelayLab(**lab_kw)
    lab.start()
    try:
        out = lab.path("routes")
        r = run_routectl("postfix", "-c", conf, "-o", out, "--postmap", "--postfix-config", lab.config_dir)
        if r.returncode != 0:
            raise LabError("routectl postfix failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
        settings = {"smtpd_milters": "", "smtp_dns_support_level": "disabled"}
        settings.update(overrides or {})
        lab.apply_snippets(out, settings)
    except BaseException:
        lab.stop()
        raise
    return lab


class DeliveryCase(unittest.TestCase):
    """A class's Postfix A and the sinks its routes point at, stopped again whatever happens."""
    maxDiff = 4000
    A = None
    sinks_started = ()

    @classmethod
    def start(cls, sinks, name, routes, overrides=None):
        """Starts sinks, then A from routes (a function of the started sinks)."""
        cls.sinks_started = list(sinks)
        try:
            for sink in cls.sinks_started:
                sink.start()
            cls.A = lab_with_routes(name, routes(), overrides)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.A is not None:
            cls.A.stop()
            cls.A = None
        for sink in cls.sinks_started:
            sink.stop()

    def deliver(self, lab, rcpt, status="sent"):
        """Submit to A; wait for the delivery line of rcpt with that status; returns (tag, match)."""
        tag = "rt-%s" % os.urandom(4).hex()
        off = lab.log_offset()
        qid = lab.submit("sender@far.test", [rcpt], subject=tag)
        m = lab.wait_log(r"%s: to=<%s>, relay=([^,]*), .*status=%s.*" % (qid, re.escape(rcpt), status), off,
                         timeout=20, what="A's delivery of %s (%s)" % (rcpt, status))
        return tag, qid, off, m


# ================================================================ 1. several hosts, in order

class FailoverTests(DeliveryCase):
    """host = [ first, second ]: the first refuses connections, the second is the sink."""

    @classmethod
    def setUpClass(cls):
        # On 127.0.0.1 only; 127.0.0.2 is loopback too, but nothing listens there: connection refused.
        cls.sink = SmtpSink("second.lab.test", users={USER: PASSWORD})
        cls.plain = SmtpSink("plain.lab.test")
        # The sinks offer no TLS: the AUTH route says security "none", and this admin lets AUTH go
        # in clear (smtp_sasl_security_options without noplaintext).
        cls.start([cls.sink, cls.plain], "failover", lambda: [
            {"domain": "two.test", "host": ["[127.0.0.2]", "[127.0.0.1]"], "port": cls.sink.port,
             "security": "none", "auth": {"user": USER, "password": PASSWORD}},
            # Another port: sasl_passwd is keyed by [host]:port, a route without auth needs its own.
            {"domain": "plain.test", "host": ["[127.0.0.2]", "[127.0.0.1]"], "port": cls.plain.port},
            {"domain": "first.test", "host": ["[127.0.0.1]", "[127.0.0.2]"], "port": cls.plain.port},
        ], overrides={"smtp_sasl_security_options": "noanonymous"})

    def test_second_host_takes_the_mail_with_the_routes_auth(self):
        tag, qid, off, m = self.deliver(self.A, "user@two.test")
        self.assertEqual(m.group(1), "127.0.0.1[127.0.0.1]:%d" % self.sink.port, m.group(0))
        log = self.A.log_since(off)
        self.assertRegex(log, r"connect to 127\.0\.0\.2\[127\.0\.0\.2\]:%d: Connection refused" % self.sink.port)
        got = self.sink.wait_for_message("user@two.test", text=tag)
        self.assertEqual(len(got), 1, self.sink.messages)
        self.assertIsNotNone(got[0].auth, "the second host got no AUTH")
        self.assertEqual(got[0].auth[1], USER)

    def test_second_host_without_auth(self):
        tag, qid, off, m = self.deliver(self.A, "user@plain.test")
        got = self.plain.wait_for_message("user@plain.test", text=tag)
        self.assertEqual(len(got), 1)
        self.assertIsNone(got[0].auth)

    def test_first_host_is_tried_first(self):
        tag, qid, off, m = self.deliver(self.A, "user@first.test")
        self.assertNotIn("127.0.0.2[127.0.0.2]", self.A.log_since(off))
        self.assertEqual(len(self.plain.wait_for_message("user@first.test", text=tag)), 1)

    def test_transport_lists_the_hosts_in_order(self):
        with open(self.A.path("routes", "transport")) as f:
            text = f.read()
        self.assertIn("two.test\tsmtp:[127.0.0.2]:%d, [127.0.0.1]:%d\n" % (self.sink.port, self.sink.port), text)

    def test_routectl_check_and_query_show_the_hosts_in_order(self):
        conf = os.path.join(TMP, "failover.conf")
        r = run_routectl("check", "-c", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("hosts in order [127.0.0.2]:%d, [127.0.0.1]:%d" % (self.sink.port, self.sink.port), r.stdout)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        r = run_routectl("query", "-c", conf, "--client", "127.0.0.1", "--auth", USER, "user@two.test")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)  # authenticated: no objection
        self.assertIn("two.test", r.stdout)


# ================================================================ 2. ETRN

class EtrnTests(DeliveryCase):
    """An ETRN route's mail waits in the queue until the site asks for it with ETRN."""

    @classmethod
    def setUpClass(cls):
        cls.sink = SmtpSink("site.lab.test")
        cls.start([cls.sink], "etrn", lambda: [
            {"domain": "site.test", "host": "[127.0.0.1]", "port": cls.sink.port, "etrn": True,
             "treat_recipient_as": "local"},
            {"domain": "plain.test", "host": "[127.0.0.1]", "port": cls.sink.port},
        ], overrides={
            # Queue runs every second: held mail must stay held through them.
            "queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
        })

    def etrn(self, domain):
        s = self.A.session()
        try:
            return s.docmd("ETRN", domain)
        finally:
            s.quit()

    def test_held_until_etrn(self):
        tag, qid, off, m = self.deliver(self.A, "user@site.test", status="deferred")
        self.assertIn("deferred transport", m.group(0))
        # At least one more queue run (queue_run_delay 1s) defers it again; nothing reaches the site.
        self.A.wait_log(r"%s: to=<user@site\.test>.*status=deferred[^\n]*\n(?:.*\n)*.*%s: to=<user@site\.test>.*"
                        r"status=deferred" % (qid, qid), off, timeout=20, what="a second deferral (queue run)")
        self.assertEqual(self.sink.messages_to("user@site.test"), [])
        self.assertEqual(self.A.queued(qid)["queue_name"], "deferred")
        code, text = self.etrn("site.test")
        self.assertEqual(code, 250, text)
        got = self.sink.wait_for_message("user@site.test", text=tag)
        self.assertEqual(len(got), 1, "ETRN did not release the mail; log:\n" + self.A.log_since(off)[-3000:])
        self.A.wait_queue_state(qid, None)

    def test_other_routes_are_not_held(self):
        tag, qid, off, m = self.deliver(self.A, "user@plain.test")
        self.assertEqual(len(self.sink.wait_for_message("user@plain.test", text=tag)), 1)

    def test_etrn_for_a_domain_that_is_no_etrn_route_is_refused(self):
        for domain in ("plain.test", "sub.site.test", "far.test"):
            code, text = self.etrn(domain)
            self.assertGreaterEqual(code, 400, "ETRN %s: %d %s" % (domain, code, text))

    def test_snippets(self):
        self.assertEqual(self.A.main_value("defer_transports"), "route-etrn")
        self.assertIn("etrn_domains", self.A.main_value("fast_flush_domains"))


# ================================================================ 3. connection security on the wire

class TlsTests(DeliveryCase):
    """Each route's security, seen where the mail arrives: the sinks record whether the message
    came over TLS and whether AUTH came before or after it. Certificates: a test CA (Postfix A
    trusts it through smtp_tls_CAfile), a server certificate for localhost signed by it, and a
    self-signed one for the same name."""

    @classmethod
    def setUpClass(cls):
        cls.pki = make_test_pki(os.path.join(TMP, "pki"))
        signed = {"certfile": cls.pki.cert, "keyfile": cls.pki.key}
        cls.sinks = {
            "auth": SmtpSink("starttls-auth.lab.test", users={USER: PASSWORD}, tls="starttls", **signed),
            "offered": SmtpSink("starttls.lab.test", tls="starttls", **signed),
            "clear": SmtpSink("clear.lab.test"),
            "smtps": SmtpSink("smtps.lab.test", tls="implicit", **signed),
            "selfsigned": SmtpSink("selfsigned.lab.test", tls="starttls", certfile=cls.pki.selfsigned_cert,
                                   keyfile=cls.pki.selfsigned_key),
        }
        port = lambda name: cls.sinks[name].port  # noqa: E731
        # tls_policy is keyed by [host]:port: routes with another security on the same sink
        # reach it as [localhost] instead of [127.0.0.1] (A resolves names natively).
        cls.start(cls.sinks.values(), "tls", lambda: [
            {"domain": "required-auth.test", "host": "[127.0.0.1]", "port": port("auth"),
             "security": "starttls-required", "auth": {"user": USER, "password": PASSWORD}},
            {"domain": "required-clear.test", "host": "[127.0.0.1]", "port": port("clear"),
             "security": "starttls-required"},
            {"domain": "optional-clear.test", "host": "localhost", "port": port("clear"), "security": "starttls"},
            {"domain": "optional-offered.test", "host": "[127.0.0.1]", "port": port("offered"),
             "security": "starttls"},
            {"domain": "none-offered.test", "host": "localhost", "port": port("offered"), "security": "none"},
            {"domain": "smtps.test", "host": "[127.0.0.1]", "port": port("smtps"), "security": "tls"},
            {"domain": "verified.test", "host": "localhost", "port": port("auth"),
             "security": "starttls-required", "tls_verify": True},
            {"domain": "verified-smtps.test", "host": "localhost", "port": port("smtps"), "security": "tls",
             "tls_verify": True},
            {"domain": "unverified.test", "host": "localhost", "port": port("selfsigned"),
             "security": "starttls-required", "tls_verify": True},
            {"domain": "encrypt-selfsigned.test", "host": "[127.0.0.1]", "port": port("selfsigned"),
             "security": "starttls-required"},
            # security unset with AUTH: TLS required, whatever smtp_tls_security_level says (none here)
            {"domain": "unset-auth.test", "host": "[127.0.0.1]", "port": port("auth"),
             "auth": {"user": USER, "password": PASSWORD}},
        ], overrides={"smtp_tls_CAfile": cls.pki.ca_cert, "smtp_tls_loglevel": "1"})

    def arrived(self, sink, rcpt, tag):
        got = self.sinks[sink].wait_for_message(rcpt, text=tag)
        self.assertEqual(len(got), 1, "%s: %r" % (sink, self.sinks[sink].messages))
        return got[0]

    def test_starttls_required_with_auth_authenticates_only_after_tls(self):
        tag, qid, off, m = self.deliver(self.A, "user@required-auth.test")
        msg = self.arrived("auth", "user@required-auth.test", tag)
        self.assertTrue(msg.tls, msg)
        self.assertEqual(msg.auth[1], USER)
        self.assertIs(msg.auth_tls, True, "AUTH was sent in clear")
        for session in self.sinks["auth"].sessions:
            self.assertFalse(session.auth_before_tls, session)
        self.assertRegex(self.A.log_since(off), r"TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:%d"
                         % self.sinks["auth"].port)

    def test_auth_without_security_goes_only_over_tls(self):
        tag, qid, off, m = self.deliver(self.A, "user@unset-auth.test")
        msg = self.arrived("auth", "user@unset-auth.test", tag)
        self.assertTrue(msg.tls, msg)
        self.assertEqual(msg.auth[1], USER)
        self.assertIs(msg.auth_tls, True, "AUTH was sent in clear")
        self.assertEqual(self.A.main_value("smtp_tls_security_level"), "none")

    def test_starttls_required_defers_rather_than_send_in_clear(self):
        tag, qid, off, m = self.deliver(self.A, "user@required-clear.test", status="deferred")
        self.assertIn("TLS is required, but was not offered", m.group(0))
        time.sleep(0.5)
        self.assertEqual(self.sinks["clear"].messages_to("user@required-clear.test"), [])
        self.assertEqual(self.A.queued(qid)["queue_name"], "deferred")
        self.A.delete_all_mail()

    def test_starttls_optional_uses_tls_when_offered(self):
        tag, qid, off, m = self.deliver(self.A, "user@optional-offered.test")
        self.assertTrue(self.arrived("offered", "user@optional-offered.test", tag).tls)

    def test_starttls_optional_sends_in_clear_when_not_offered(self):
        tag, qid, off, m = self.deliver(self.A, "user@optional-clear.test")
        self.assertFalse(self.arrived("clear", "user@optional-clear.test", tag).tls)

    def test_none_never_starts_tls_even_when_offered(self):
        before = len(self.sinks["offered"].sessions)
        tag, qid, off, m = self.deliver(self.A, "user@none-offered.test")
        self.assertFalse(self.arrived("offered", "user@none-offered.test", tag).tls)
        for session in self.sinks["offered"].sessions[before:]:
            self.assertNotIn("starttls", session.events, session)

    def test_tls_is_implicit_tls(self):
        tag, qid, off, m = self.deliver(self.A, "user@smtps.test")
        msg = self.arrived("smtps", "user@smtps.test", tag)
        self.assertTrue(msg.tls)
        self.assertEqual(m.group(1), "127.0.0.1[127.0.0.1]:%d" % self.sinks["smtps"].port)

    def test_verified_certificate_is_delivered(self):
        for domain, sink in (("verified.test", "auth"), ("verified-smtps.test", "smtps")):
            with self.subTest(domain):
                tag, qid, off, m = self.deliver(self.A, "user@" + domain)
                self.assertTrue(self.arrived(sink, "user@" + domain, tag).tls)
                self.assertRegex(self.A.log_since(off), r"Verified TLS connection established to localhost")

    def test_self_signed_certificate_is_deferred_with_tls_verify(self):
        tag, qid, off, m = self.deliver(self.A, "user@unverified.test", status="deferred")
        self.assertRegex(m.group(0), r"(?i)certificate|verif")
        time.sleep(0.5)
        self.assertEqual(self.sinks["selfsigned"].messages_to("user@unverified.test"), [])
        self.A.delete_all_mail()

    def test_self_signed_certificate_without_tls_verify_is_delivered_encrypted(self):
        # The control for the test above: the same sink takes the mail when nobody checks.
        tag, qid, off, m = self.deliver(self.A, "user@encrypt-selfsigned.test")
        self.assertTrue(self.arrived("selfsigned", "user@encrypt-selfsigned.test", tag).tls)


# ================================================================ 4. require_tls_for_auth

class RequireTlsForAuthTests(unittest.TestCase):
    """An ip range with require_tls_for_auth, through a real Postfix that offers STARTTLS and
    SASL: AUTH after STARTTLS passes, plain AUTH gets 530 5.7.0 at RCPT (the milter sees TLS in
    the {tls_version}/{cipher} macros it asks for at MAIL)."""

    SASL_USER = "tlsuser"
    SASL_PASSWORD = "Tls-Auth-Passw0rd"

    @classmethod
    def setUpClass(cls):
        cls.lab = cls.milter = None
        pki = make_test_pki(os.path.join(TMP, "pki-smtpd"))
        try:
            cls.lab = PostfixLab(users={cls.SASL_USER: cls.SASL_PASSWORD}, extra_main={
                "smtpd_tls_security_level": "may", "smtpd_tls_cert_file": pki.cert,
                # AUTH in clear too; the lab's mynetworks (127.0.0.0/8) lets the milter decide relaying.
                "smtpd_tls_key_file": pki.key, "smtpd_tls_auth_only": "no"}).start()
            mdir = cls.lab.path("milter")
            socket = "unix:" + os.path.join(mdir, "route-milter.sock")
            cls.milter = Milter(mdir, socket_spec=socket, name="route-milter", user="postfix")
            cls.milter.write_config("""\
milter = { socket = "%s"; user = "postfix"; };
scope = "all";
local_domains = [ "own.test" ];
ip_ranges = (
  { name = "Loopback"; cidr = "127.0.0.0/8"; priority = 20;
    allow = [ "local-local", "local-external", "external-local", "external-external" ];
    require_auth = [ "external-external" ]; require_tls_for_auth = true; } );
routes = ( );
""" % socket)
            cls.milter.start()
            cls.lab.set_milter(cls.milter.postfix_socket)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.milter is not None:
            cls.milter.stop()
        if cls.lab is not None:
            cls.lab.stop()

    def rcpt(self, starttls, auth, rcpt="someone@far.test"):
        s = smtplib.SMTP(self.lab.host, self.lab.port, local_hostname="client.example.net", timeout=30)
        try:
            s.ehlo()
            if starttls:
                s.starttls()
                s.ehlo()
            if auth:
                s.login(self.SASL_USER, self.SASL_PASSWORD)
            self.assertEqual(s.docmd("MAIL FROM:<a@far.test>")[0], 250)
            code, text = s.docmd("RCPT TO:<%s>" % rcpt)
            return code, text.decode()
        finally:
            s.quit()

    def test_auth_after_starttls_is_accepted(self):
        code, text = self.rcpt(starttls=True, auth=True)
        self.assertEqual(code, 250, text)

    def test_plain_auth_is_refused(self):
        off = self.milter.log_offset()
        code, text = self.rcpt(starttls=False, auth=True)
        self.assertEqual((code, text), (530, "5.7.0 Must issue a STARTTLS command first."))
        self.assertIn("rule=tls-required", self.milter.log_text()[off:])
        # Even to an own domain: the session's AUTH does not count, and its mail is refused.
        self.assertEqual(self.rcpt(starttls=False, auth=True, rcpt="user@own.test")[0], 530)

    def test_without_auth_the_class_decides(self):
        self.assertEqual(self.rcpt(starttls=False, auth=False, rcpt="user@own.test")[0], 250)
        self.assertEqual(self.rcpt(starttls=True, auth=False)[:1], (530,))


# ================================================================ 5. what routectl says

class RoutectlTests(unittest.TestCase):
    """routectl's side of issue 11 that needs no Postfix running: the Postfix version check
    (through the real postconf, and a stand-in for an old one) and the expired-range warning."""

    HOSTS = [{"domain": "two.test", "host": ["mx1.two.test", "mx2.two.test"]}]

    def run_postfix(self, path_dirs):
        conf = write_config(os.path.join(TMP, "version.conf"), config_text(self.HOSTS))
        out = tempfile.mkdtemp(dir=TMP)
        env = dict(os.environ, PATH=":".join(path_dirs))
        import subprocess
        # The table type given: these stand-ins for postconf know only mail_version.
        return subprocess.run([routectl_binary(), "postfix", "-c", conf, "-o", out, "--database-type", "hash"],
                              capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL), out

    def test_real_postfix_is_new_enough(self):
        r, out = self.run_postfix(os.environ.get("PATH", "/usr/sbin:/usr/bin").split(":") + ["/usr/sbin"])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "transport")) as f:
            self.assertIn("two.test\tsmtp:[mx1.two.test]:25, [mx2.two.test]:25\n", f.read())

    def test_old_postfix_is_refused(self):
        fake = tempfile.mkdtemp(dir=TMP)
        with open(os.path.join(fake, "postconf"), "w") as f:
            f.write("#!/bin/sh\necho 3.4.14\n")
        os.chmod(os.path.join(fake, "postconf"), 0o755)
        r, out = self.run_postfix([fake, "/usr/bin", "/bin"])
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn("version.conf:5: routes: two.test: several hosts need Postfix 3.5 or later; this Postfix is "
                      "3.4.14", r.stderr)
        self.assertEqual(os.listdir(out), [], "files were written")

    def test_unknown_version_is_refused(self):
        empty = tempfile.mkdtemp(dir=TMP)
        r, out = self.run_postfix([empty])
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn("this Postfix's version is unknown (postconf -d -h mail_version failed", r.stderr)

    def test_check_warns_about_expired_ranges(self):
        text = ('ip_ranges = (\n'
                '  { name = "old"; cidr = "192.0.2.0/24"; priority = 20; expires = "2020-01-01T00:00:00Z"; },\n'
                '  { name = "new"; cidr = "0.0.0.0/0"; priority = 10; expires = "2999-01-01T00:00:00Z"; } );\n')
        conf = write_config(os.path.join(TMP, "expired.conf"), text)
        r = run_routectl("check", "-c", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "%s:2: warning: ip range \"old\" expired at 2020-01-01T00:00:00Z and matches no "
                         "client\n" % conf)
        self.assertIn("EXPIRED 2020-01-01T00:00:00Z", r.stdout)
        self.assertIn("expires 2999-01-01T00:00:00Z", r.stdout)
        q = run_routectl("query", "-c", conf, "--client", "192.0.2.1", "x@far.test")
        self.assertIn('range "new"', q.stdout)


CLASS_ORDER = [RoutectlTests, FailoverTests, EtrnTests, TlsTests, RequireTlsForAuthTests]

if __name__ == "__main__":
    sys.exit(suite_runner.run(sys.modules[__name__], "route-delivery", CLASS_ORDER, cleanup_all))
