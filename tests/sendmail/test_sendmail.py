"""route-milter and `routectl sendmail` / `routectl retry --mta sendmail` against a real Sendmail.

One private Sendmail (lab_sendmail.py) for the whole module, configured the way an administrator
would: `routectl sendmail` writes the maps and the .mc snippet from the route-milter config, the
snippet goes into the lab's sendmail.mc, m4 builds sendmail.cf, `routectl sendmail --makemap`
compiles the maps. The route-milter named in the config is attached through the snippet's
INPUT_MAIL_FILTER. Route targets are small SMTP sinks on loopback ports (smtp_sink.py); one of
them requires SMTP AUTH with the route's credentials. Run as root:

    tests/sendmail/run.sh [Class[.test] ...]
"""

import base64
import contextlib
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from lab_sendmail import (EX_CONFIG, REPO_ROOT, LabError, SendmailLab, cleanup_all,  # noqa: E402
                          free_port, port_open, postfix_lab, routectl_binary, run_routectl, wait_for, work_base,
                          write_config)
from smtp_sink import SmtpSink, make_test_pki  # noqa: E402
import suite_runner  # noqa: E402  (tests/integration, put on sys.path by lab_sendmail)
import address_differential  # noqa: E402  (tests/integration as well)
import address_scenarios  # noqa: E402  (tests/integration as well)
import rcpt_scenarios  # noqa: E402  (tests/integration as well)

SASL_USER = "relayuser"
SASL_PASSWORD = "lab-Passw0rd"
AUTH = (SASL_USER, SASL_PASSWORD)
AUTH_FQ = (SASL_USER + "@lab.test", SASL_PASSWORD)

EXT_SENDER = "someone@outside.example"   # external sender (not a local domain, no route)
OUTSIDE_CLIENT = "127.0.0.2"             # a client Sendmail does not trust (not 127.0.0.1)

# The route's credentials for partner.test's target: a '"', a '%' and a non-ASCII letter make
# routectl write them base64-encoded (P=...), which Sendmail must decode.
ROUTE_USER = "relay"
ROUTE_PASSWORD = 'Pa"ss %1 wörd'

MILTER_USER = "daemon"

# Sendmail keys SMTP AUTH and TLS settings by target host, so the route targets with their own
# settings listen on addresses of their own (all of 127.0.0.0/8 is this machine). Sendmail
# resolves target names with the system resolver, not the lab's hosts file: addresses only.
PARTNER_ADDRESS = "127.0.0.3"
TLS_ADDRESS = "127.0.0.4"
# failover.test: two hosts on one port; nobody listens on the first, the second needs AUTH.
FAILOVER_FIRST = "127.0.0.6"
FAILOVER_SECOND = "127.0.0.5"
FAILOVER_USER = "failover"
FAILOVER_PASSWORD = "Fail-0ver"
# order.test / order-rev.test: the same two live hosts, listed the other way round.
ORDER_A = "127.0.0.12"
ORDER_B = "127.0.0.13"
# The connection-security routes, each with target hosts of their own (TLS is per host).
TLSOK_ADDRESS = "127.0.0.7"     # starttls-required, the target offers STARTTLS
MAY_ADDRESS = "127.0.0.8"       # starttls: one target with STARTTLS, one without (two ports)
AUTHTLS_ADDRESS = "127.0.0.10"  # starttls + auth: AUTH must come after TLS
# tls_verify needs host names: this one is in the lab's hosts file (and in the test certificates)
VERIFY_HOST = "verify-mx.lab.test"
TLS_CLIENT = "127.0.0.14"       # the client of the range with require_tls_for_auth

WORK = None       # scratch: route-milter config, milter socket, state files, output dirs
PKI = None        # smtp_sink.TestPki: the test CA, a CA-signed and a self-signed certificate
LAB = None        # the SendmailLab
SINKS = {}        # name -> SmtpSink
MILTER = None     # the route-milter attached to LAB
DEAD_PORT = None  # down.test's target: nobody listens


ALL_CLASSES = '[ "local-local", "local-external", "external-local", "external-external" ]'
IP_RANGES = """\
ip_ranges = (
  { name = "TLS for AUTH"; lower = "127.0.0.14"; upper = "127.0.0.14"; priority = 40;
    allow = %(all)s;
    require_auth = [ "local-external", "external-external" ]; require_tls_for_auth = true; },
  { name = "My computer"; lower = "127.0.0.1"; upper = "127.0.0.1"; priority = 30;
    allow = %(all)s;
    require_auth = [ "external-external" ]; },
  { name = "Internet"; lower = "0.0.0.0"; upper = "255.255.255.255"; priority = 10;
    allow = %(all)s;
    require_auth = [ "local-local", "local-external", "external-external" ]; }
);
""" % {"all": ALL_CLASSES}


def milter_socket():
    return "unix:" + os.path.join(WORK, "milter", "route-milter.sock")


def make_config(listed=("alice@backup.test", "bob@backup.test"), extra_routes="", socket=None):
    addresses = ", ".join('"%s"' % a for a in listed)
    return """\
# route-milter Sendmail test config
milter = { socket = "%(socket)s"; user = "%(user)s"; };
scope = "routes";
local_domains = [ "lab.test" ];
%(ranges)s
routes = (
  { domain = "backup.test"; description = "backup MX for a customer";
    host = "[127.0.0.1]"; port = %(backup)d;
    treat_sender_as = "external"; treat_recipient_as = "local";
    deliver_to = "listed"; addresses = [ %(addresses)s ]; },
  { domain = "partner.test"; description = "smart-host partner, needs SMTP AUTH";
    host = "[127.0.0.3]"; port = %(partner)d;
    treat_sender_as = "external"; treat_recipient_as = "external"; deliver_to = "all"; security = "none";
    auth = { user = "%(route_user)s"; password = "%(route_password)s"; }; },
  { domain = "*.wild.test"; host = "[127.0.0.1]"; port = %(wild)d; },
  { domain = "tlsreq.test"; host = "[127.0.0.4]"; port = %(tls)d; security = "starttls-required"; },
  { domain = "down.test"; host = "[127.0.0.1]"; port = %(dead)d; retries = 2; retry_minutes = 1; },
  { domain = "failover.test"; host = [ "[%(fo1)s]", "[%(fo2)s]" ]; port = %(failover)d; security = "none";
    auth = { user = "%(fo_user)s"; password = "%(fo_password)s"; }; },
  { domain = "order.test"; host = [ "[%(order_a)s]", "[%(order_b)s]" ]; port = %(order)d; },
  { domain = "order-rev.test"; host = [ "[%(order_b)s]", "[%(order_a)s]" ]; port = %(order)d; },
  { domain = "etrn.test"; description = "ETRN: a site online now and then"; host = "[127.0.0.1]";
    port = %(etrn)d; etrn = true; treat_recipient_as = "local"; },
  { domain = "tlsok.test"; host = "[%(tlsok_ip)s]"; port = %(tlsok)d; security = "starttls-required"; },
  { domain = "may.test"; host = "[%(may_ip)s]"; port = %(may)d; security = "starttls"; },
  { domain = "mayclear.test"; host = "[%(may_ip)s]"; port = %(mayclear)d; security = "starttls"; },
  { domain = "notls.test"; host = "[127.0.0.1]"; port = %(notls)d; security = "none"; },
  { domain = "authtls.test"; host = "[%(authtls_ip)s]"; port = %(authtls)d; security = "starttls";
    auth = { user = "%(fo_user)s"; password = "%(fo_password)s"; }; },
  { domain = "verified.test"; host = "%(verify_host)s"; port = %(verified)d; security = "starttls-required";
    tls_verify = true; },
  { domain = "selfsigned.test"; host = "%(verify_host)s"; port = %(selfsigned)d; security = "starttls-required";
    tls_verify = true; }%(extra)s
);
""" % {"socket": socket or milter_socket(), "user": MILTER_USER, "ranges": IP_RANGES, "addresses": addresses,
       "backup": SINKS["backup"].port, "partner": SINKS["partner"].port, "wild": SINKS["wild"].port,
       "tls": SINKS["tls"].port, "dead": DEAD_PORT, "route_user": ROUTE_USER,
       "route_password": ROUTE_PASSWORD.replace('"', '\\"'), "extra": extra_routes,
       "fo1": FAILOVER_FIRST, "fo2": FAILOVER_SECOND, "failover": SINKS["failover"].port,
       "fo_user": FAILOVER_USER, "fo_password": FAILOVER_PASSWORD,
       "order_a": ORDER_A, "order_b": ORDER_B, "order": SINKS["order_a"].port, "etrn": SINKS["etrn"].port,
       "tlsok_ip": TLSOK_ADDRESS, "tlsok": SINKS["tlsok"].port, "may_ip": MAY_ADDRESS, "may": SINKS["may"].port,
       "mayclear": SINKS["mayclear"].port, "notls": SINKS["notls"].port, "authtls_ip": AUTHTLS_ADDRESS,
       "authtls": SINKS["authtls"].port, "verified": SINKS["verified"].port, "selfsigned": SINKS["selfsigned"].port,
       "verify_host": VERIFY_HOST}


def config_path():
    return os.path.join(WORK, "route-milter.conf")


def start_sinks():
    """The route targets. Sinks that share a port (one route, several hosts) are started on the
    first one's port."""
    cert = {"tls": "starttls", "certfile": PKI.cert, "keyfile": PKI.key}
    SINKS["catchall"] = SmtpSink("catchall.lab.test").start()
    SINKS["backup"] = SmtpSink("backup-mx.lab.test").start()
    SINKS["partner"] = SmtpSink("partner-mx.lab.test", users={ROUTE_USER: ROUTE_PASSWORD},
                                require_auth=True, host=PARTNER_ADDRESS).start()
    SINKS["wild"] = SmtpSink("wild-mx.lab.test").start()
    SINKS["tls"] = SmtpSink("tls-mx.lab.test", host=TLS_ADDRESS).start()
    SINKS["failover"] = SmtpSink("failover-mx2.lab.test", users={FAILOVER_USER: FAILOVER_PASSWORD},
                                 require_auth=True, host=FAILOVER_SECOND).start()
    SINKS["order_a"] = SmtpSink("order-a.lab.test", host=ORDER_A).start()
    SINKS["order_b"] = SmtpSink("order-b.lab.test", host=ORDER_B, port=SINKS["order_a"].port).start()
    SINKS["etrn"] = SmtpSink("etrn-site.lab.test").start()
    SINKS["tlsok"] = SmtpSink("tlsok-mx.lab.test", host=TLSOK_ADDRESS, **cert).start()
    SINKS["may"] = SmtpSink("may-mx.lab.test", host=MAY_ADDRESS, **cert).start()
    SINKS["mayclear"] = SmtpSink("mayclear-mx.lab.test", host=MAY_ADDRESS).start()
    SINKS["notls"] = SmtpSink("notls-mx.lab.test", **cert).start()
    SINKS["authtls"] = SmtpSink("authtls-mx.lab.test", users={FAILOVER_USER: FAILOVER_PASSWORD}, require_auth=True,
                                host=AUTHTLS_ADDRESS, **cert).start()
    SINKS["verified"] = SmtpSink("verified-mx.lab.test", **cert).start()
    SINKS["selfsigned"] = SmtpSink("selfsigned-mx.lab.test", tls="starttls", certfile=PKI.selfsigned_cert,
                                   keyfile=PKI.selfsigned_key).start()


def setUpModule():
    global WORK, LAB, MILTER, DEAD_PORT, PKI
    if os.geteuid() != 0:
        raise RuntimeError("the Sendmail tests must run as root")
    for binary in (postfix_lab.milter_binary(), routectl_binary()):
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise RuntimeError("%s not found (build it with make, or set ROUTE_MILTER / ROUTECTL)" % binary)
    WORK = tempfile.mkdtemp(prefix="sendmail-lab-work-", dir=work_base())
    os.chmod(WORK, 0o755)
    os.makedirs(os.path.join(WORK, "milter"))
    os.chmod(os.path.join(WORK, "milter"), 0o755)
    try:
        # CN localhost, VERIFY_HOST only as a subjectAltName (check_cert_altnames must find it)
        PKI = make_test_pki(os.path.join(WORK, "pki"), names=("localhost", VERIFY_HOST))
        start_sinks()
        DEAD_PORT = free_port()
        write_config(config_path(), make_config(), user=MILTER_USER)
        MILTER = postfix_lab.Milter(os.path.join(WORK, "milter"), socket_spec=milter_socket(),
                                    name="route-milter", user=MILTER_USER)
        MILTER.conf = config_path()
        MILTER.start()
        LAB = SendmailLab(config_path(), SINKS["catchall"].port, users={SASL_USER: SASL_PASSWORD}, pki=PKI,
                          hosts={VERIFY_HOST: "127.0.0.1"}).start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    global WORK, LAB, MILTER
    cleanup_all()
    LAB = MILTER = None
    for sink in SINKS.values():
        with contextlib.suppress(Exception):
            sink.stop()
    SINKS.clear()
    if WORK and not os.environ.get("LAB_KEEP"):
        shutil.rmtree(WORK, ignore_errors=True)
    WORK = None


def uniq(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def use_config(text, timeout=10.0):
    """Make the milter run config text: write it, SIGHUP, wait for "reloaded"."""
    offset = MILTER.log_offset()
    MILTER.write_config(text)
    MILTER.reload()
    wait_for(lambda: "reloaded" in MILTER.log_text()[offset:] or "error" in MILTER.log_text()[offset:],
             timeout, what="milter reload")
    if "reloaded" not in MILTER.log_text()[offset:]:
        raise LabError("milter rejected the test config:\n" + MILTER.log_text()[offset:])


def file_snapshot(directory):
    out = {}
    for name in sorted(os.listdir(directory)):
        st = os.stat(os.path.join(directory, name))
        with open(os.path.join(directory, name), "rb") as f:
            out[name] = (f.read(), st.st_mtime_ns, st.st_ino, st.st_mode)
    return out


def remove_queued(qid):
    """Take a message out of the lab's queue (the daemon runs no queue runs of its own)."""
    for path in LAB.all_queue_files().values():
        if os.path.basename(path) == "qf" + qid:
            for prefix in ("qf", "df", "xf"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(os.path.dirname(path), prefix + qid))


def deferral_reason(qid, group):
    """Why LAB's first delivery attempt of qid (in queue group) failed: its qf M line."""
    wait_for(lambda: (LAB.qf_field(qid, "N", group) or "0") != "0", 20, what="a delivery attempt of %s" % qid)
    return LAB.qf_field(qid, "M", group) or ""


class LabTestCase(unittest.TestCase):
    def assertReply(self, reply, code, enhanced=None, text=None, msg=None):
        c, m = reply
        info = "%s (reply %r)" % (msg or "", reply)
        self.assertEqual(c, code, info)
        if enhanced is not None:
            self.assertTrue(m.startswith(enhanced), "expected enhanced status %s: %s" % (enhanced, info))
        if text is not None:
            self.assertIn(text, m, info)

    def rcpt(self, rcpt, sender=EXT_SENDER, auth=None, source=None):
        t = LAB.transaction(sender, [rcpt], auth=auth, source=source)
        self.assertEqual(t.mail[0], 250, "MAIL FROM failed: %r" % (t,))
        return t.rcpts[0]

    def context(self):
        return "\n--- milter log (tail) ---\n%s\n--- mailq ---\n%s" % (MILTER.log_text()[-3000:], LAB.mailq())

    def received(self, sink, rcpt, tag):
        """The one message for rcpt (containing tag) that SINKS[sink] got, once it is there."""
        found = SINKS[sink].wait_for_message(rcpt, text=tag)
        self.assertEqual(len(found), 1, "%s got %r%s" % (sink, SINKS[sink].messages, self.context()))
        return found[0]


# ================================================================ 1. the generated files

class GeneratedFilesTests(LabTestCase):
    """What routectl sendmail wrote, and that m4, makemap and Sendmail accept it."""

    MAPS = ("mailertable", "access", "authinfo")

    def test_files_written(self):
        names = set(os.listdir(LAB.maps_dir))
        expected = set(self.MAPS) | {m + ".db" for m in self.MAPS} | {"sendmail.mc.snippet"}
        self.assertEqual(names, expected, "unexpected or missing files (temporary files left over?)")

    def test_authinfo_private_and_password_not_in_clear(self):
        for name in ("authinfo", "authinfo.db"):
            self.assertEqual(os.stat(os.path.join(LAB.maps_dir, name)).st_mode & 0o777, 0o600, name)
        for name in os.listdir(LAB.maps_dir):
            with open(os.path.join(LAB.maps_dir, name), "rb") as f:
                self.assertNotIn(ROUTE_PASSWORD.encode(), f.read(), name)
        self.assertNotIn(ROUTE_PASSWORD, LAB.routectl_output)
        with open(os.path.join(LAB.maps_dir, "authinfo")) as f:
            text = f.read()
        encoded = base64.b64encode(ROUTE_PASSWORD.encode()).decode()
        self.assertIn('AuthInfo:%s\t"U:relay" "P=%s" "M:PLAIN LOGIN"\n' % (PARTNER_ADDRESS, encoded), text)

    def test_sendmail_cf_built_from_the_snippet(self):
        with open(LAB.cf) as f:
            cf = f.read()
        maps = LAB.maps_dir
        for line in ("Kmailertable hash %s/mailertable" % maps,
                     "Kaccess hash -T<TMPF> %s/access" % maps,
                     "Kauthinfo hash %s/authinfo" % maps,
                     "Xroute-milter, S=%s, F=T, T=S:30s;R:30s;E:1m" % milter_socket(),
                     "Qroute_down_test, P=%s/route_down_test, I=1m" % LAB.queue_dir,
                     "Qroute__wild_test, P=%s/route__wild_test, I=60m" % LAB.queue_dir,
                     "Mroute_esmtp_%d," % SINKS["partner"].port):
            self.assertRegex(cf, r"(?m)^%s" % re.escape(line))

    def test_sendmail_accepts_the_cf(self):
        r = LAB.sendmail("-bt", "-d0.1", input="")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        problems = [l for l in (r.stdout + r.stderr).splitlines()
                    if re.search(r"(?i)warning|error|unsafe|unknown|not open|cannot", l)]
        self.assertEqual(problems, [])
        self.assertIsNone(LAB.proc.poll(), "the daemon is not running")

    def test_makemap_compiled_every_map(self):
        out = LAB.bt("/map mailertable partner.test", "/map access To:alice@backup.test",
                     "/map access QGRP:down.test", "/map authinfo AuthInfo:" + PARTNER_ADDRESS)
        self.assertIn("map_lookup: mailertable (partner.test) returns route_esmtp_%d:[%s]"
                      % (SINKS["partner"].port, PARTNER_ADDRESS), out)
        self.assertIn("map_lookup: access (To:alice@backup.test) returns RELAY", out)
        self.assertIn("map_lookup: access (QGRP:down.test) returns route_down_test", out)
        self.assertRegex(out, r"map_lookup: authinfo \(AuthInfo:%s\) returns \"U:relay\"" % re.escape(PARTNER_ADDRESS))
        self.assertNotIn("no match", out)

    def test_rerun_changes_nothing(self):
        before = file_snapshot(LAB.maps_dir)
        time.sleep(0.02)
        r = LAB.generate(makemap=True)
        self.assertNotIn("written", r.stdout)
        self.assertNotIn("makemap", r.stdout)
        self.assertEqual(r.stdout.count("unchanged"), 4, r.stdout)
        self.assertEqual(file_snapshot(LAB.maps_dir), before)


# ================================================================ 2. what Sendmail resolves

class ResolutionTests(LabTestCase):
    """sendmail -bt: mailer, host and port per route; queue groups; relaying."""

    def mailer_port(self, mailer):
        out = LAB.bt("=M")
        m = re.search(r"^mailer \d+ \(%s\):.*?A=TCP \$h (\d+)" % re.escape(mailer), out, re.M | re.S)
        self.assertIsNotNone(m, "mailer %s not defined:\n%s" % (mailer, out))
        return int(m.group(1))

    def test_route_domain_resolves_to_mailer_host_and_port(self):
        for address in ("user@partner.test", "User@Partner.TEST", "x@PARTNER.test"):
            mailer, host, _ = LAB.parse(address)
            self.assertEqual((mailer, host), ("route_esmtp_%d" % SINKS["partner"].port, "[%s]" % PARTNER_ADDRESS),
                             address)
        self.assertEqual(self.mailer_port("route_esmtp_%d" % SINKS["partner"].port), SINKS["partner"].port)
        self.assertEqual(LAB.parse("a@Backup.Test")[:2], ("route_esmtp_%d" % SINKS["backup"].port, "[127.0.0.1]"))
        self.assertEqual(LAB.parse("a@down.test")[:2], ("route_esmtp_%d" % DEAD_PORT, "[127.0.0.1]"))

    def test_wildcard_route_covers_subdomains_not_the_domain(self):
        wild = ("route_esmtp_%d" % SINKS["wild"].port, "[127.0.0.1]")
        self.assertEqual(LAB.parse("a@sub.wild.test")[:2], wild)
        self.assertEqual(LAB.parse("a@X.Y.WILD.test")[:2], wild)
        self.assertEqual(self.mailer_port(wild[0]), SINKS["wild"].port)
        # wild.test itself has no route: the site's own smart host (the catch-all sink)
        self.assertEqual(LAB.parse("a@wild.test")[:2], ("lab_sink", "[127.0.0.1]"))
        self.assertEqual(LAB.parse("a@evilwild.test")[:2], ("lab_sink", "[127.0.0.1]"))

    def test_non_route_domain_untouched(self):
        self.assertEqual(LAB.parse("a@other.example")[:2], ("lab_sink", "[127.0.0.1]"))
        self.assertEqual(LAB.parse("a@sub.partner.test")[:2], ("lab_sink", "[127.0.0.1]"))

    def test_queue_group_per_route(self):
        self.assertEqual(LAB.ruleset("queuegroup", "x@Down.TEST"), "$# route_down_test")
        self.assertEqual(LAB.ruleset("queuegroup", "x@a.wild.test"), "$# route__wild_test")
        self.assertEqual(LAB.ruleset("queuegroup", "x@partner.test"), "$# route_partner_test")
        # not routes: the default queue group
        self.assertEqual(LAB.ruleset("queuegroup", "x@sub.down.test"), "")
        self.assertEqual(LAB.ruleset("queuegroup", "x@other.example"), "")

    def test_relaying_decided_by_the_access_map(self):
        outside = {"client_addr": "192.0.2.7", "client_name": "client.example.net"}

        def relay(address):
            return LAB.ruleset("check_rcpt", "<%s>" % address, outside)
        self.assertEqual(relay("alice@backup.test"), "RELAY")
        self.assertEqual(relay("Bob@Backup.TEST"), "RELAY")
        for denied in ("carol@backup.test", "alice@sub.backup.test", "x@partner.test", "x@other.example"):
            self.assertIn("Relaying denied", relay(denied), denied)

    def test_tls_and_auth_per_target_host(self):
        out = LAB.bt("/map access TLS_Srv:" + TLS_ADDRESS, "/map access Try_TLS:127.0.0.1",
                     "/map access Try_TLS:" + PARTNER_ADDRESS, "/map access Try_TLS:" + TLS_ADDRESS)
        self.assertIn("(TLS_Srv:%s) returns ENCR:112" % TLS_ADDRESS, out)
        self.assertIn("(Try_TLS:127.0.0.1) returns NO", out)
        self.assertIn("(Try_TLS:%s) returns NO" % PARTNER_ADDRESS, out)
        self.assertIn("(Try_TLS:%s) no match" % TLS_ADDRESS, out)


# ================================================================ 3. the milter's decisions

class RouteDecisionTests(LabTestCase):
    """rcpt_scenarios.SCENARIOS (the Postfix suite runs them too), through Sendmail; then the cases
    that are more than one RCPT reply (log lines, DATA, another client)."""

    def test_rcpt_scenarios(self):
        rcpt_scenarios.run(self, "sendmail", {rcpt_scenarios.AUTH: AUTH, rcpt_scenarios.AUTH_FQ: AUTH_FQ})

    def test_client_address_from_connect(self):
        # From 127.0.0.2 the "Internet" range applies (127.0.0.1 is "My computer"): the milter
        # takes the client from xxfi_connect. Sendmail itself refuses the relaying first.
        self.assertReply(self.rcpt("alice@backup.test", source=OUTSIDE_CLIENT), 250)
        offset = MILTER.log_offset()
        self.assertReply(self.rcpt("x@wild.test", auth=AUTH, source=OUTSIDE_CLIENT), 250)
        self.assertReply(self.rcpt("carol@backup.test", auth=AUTH, source=OUTSIDE_CLIENT), 550, "5.1.1")
        wait_for(lambda: "carol@backup.test" in MILTER.log_text()[offset:], 5, what="milter log line")
        self.assertRegex(MILTER.log_text()[offset:], r"\[127\.0\.0\.2\]: 550 5\.1\.1 .*range=Internet")

    def test_mixed_recipients_in_one_transaction_then_data(self):
        tag = uniq("mixed")
        rcpts = ["alice@backup.test", "carol@backup.test", "x@partner.test", tag + "@other.example",
                 "BOB@backup.test"]
        t = LAB.transaction(EXT_SENDER, rcpts, data=True, body="Subject: %s\r\n\r\nhello\r\n" % tag)
        self.assertEqual(t.mail[0], 250, repr(t))
        self.assertReply(t.rcpts[0], 250, msg="alice")
        self.assertReply(t.rcpts[1], 550, "5.1.1", "<carol@backup.test>", msg="carol")
        self.assertReply(t.rcpts[2], 530, "5.7.0", msg="partner")
        self.assertReply(t.rcpts[3], 250, msg="non-route")
        self.assertReply(t.rcpts[4], 250, msg="BOB")
        self.assertIsNotNone(t.data, repr(t))
        self.assertEqual(t.data[0], 250, "DATA not accepted: %r%s" % (t, self.context()))
        backup = SINKS["backup"].wait_for_message("alice@backup.test", text=tag)
        self.assertEqual(len(backup), 1, "backup.test's target got %r%s" % (SINKS["backup"].messages, self.context()))
        self.assertEqual(sorted(backup[0].recipients), ["alice@backup.test", "bob@backup.test"])
        other = SINKS["catchall"].wait_for_message(tag + "@other.example", text=tag)
        self.assertEqual(len(other), 1, self.context())
        self.assertEqual(other[0].recipients, [tag + "@other.example"])
        for sink in SINKS.values():
            for m in sink.messages:
                if tag in m.text:
                    self.assertNotIn("carol@backup.test", m.recipients)
                    self.assertNotIn("x@partner.test", m.recipients)


class AddressDifferentialTests(LabTestCase):
    """address_differential.py through Sendmail: for every generated argument Sendmail takes,
    the milter judged the address Sendmail's own parse gives its mailer (sendmail -bt /parse),
    and gave the verdict of that plain address."""

    @classmethod
    def setUpClass(cls):
        use_config(address_differential.config(milter_socket(), MILTER_USER))

    @classmethod
    def tearDownClass(cls):
        use_config(make_config())

    @staticmethod
    def parse(arguments):
        out = {}
        for i in range(0, len(arguments), 200):
            chunk = arguments[i:i + 200]
            text = LAB.bt(*["/parse " + a for a in chunk])
            # One answer a command, each after its "> " prompt; the first prompt comes before them.
            answers = re.split(r"^> ", text, flags=re.M)[1:]
            for argument, answer in zip(chunk, answers):
                found = address_differential.SENDMAIL_PARSE.findall(answer)
                if len(found) == 1:
                    out[argument] = (found[0][0], found[0][2].strip())
        return out

    def test_the_milter_judges_what_sendmail_delivers_to(self):
        self.maxDiff = None
        ad = address_differential
        # Sendmail slows a session down after its tenth bad recipient: one transaction a session.
        records = ad.run(LAB.host, LAB.port, MILTER, ad.generate(), per_connection=1)
        ad.replay_plain(LAB.host, LAB.port, records, per_connection=1)
        problems = ad.sendmail_mismatches(records, self.parse)
        problems += [ad.describe(r, "verdict %r for the plain address" % (r.plain_reply,))
                     for r in ad.verdict_mismatches(records)]
        report = ad.summary(records)
        print("\n    " + report, file=sys.stderr)
        self.assertEqual(problems[:20], [], report)
        judged = [r for r in records if r.judged is not None]
        self.assertGreater(len(judged), 500, report)
        self.assertTrue({250, 530, 550} <= {r.reply[0] for r in judged}, report)


class HostileAddressTests(LabTestCase):
    """The Postfix suite's address_scenarios.SCENARIOS (comments, own domains, postmaster...), through Sendmail."""

    # Where Sendmail answers before the milter is asked, its own refusal stands (never an accept).
    SENDMAIL_OWN = {
        # Sendmail's address limit (MAXNAME) refuses the long address itself: 5xx, not a 4xx.
        "long unlisted recipient": (553, "5.1.0"),
    }

    @classmethod
    def setUpClass(cls):
        use_config(address_scenarios.config(milter_socket(), MILTER_USER))

    @classmethod
    def tearDownClass(cls):
        use_config(make_config())

    def test_scenarios(self):
        for name, sender, rcpt, code, enhanced in address_scenarios.SCENARIOS:
            with self.subTest(name):
                if name in self.SENDMAIL_OWN:
                    code, enhanced = self.SENDMAIL_OWN[name]
                    t = LAB.transaction(sender, [rcpt])
                    self.assertEqual(t.mail[0], 250, "%s: MAIL FROM: %r" % (name, t))
                    self.assertReply(t.rcpts[0], code, enhanced, msg="%s: <%s> -> <%.80s>" % (name, sender, rcpt))
                    continue
                t = LAB.transaction(sender, [rcpt])
                address_scenarios.check(self, "sendmail", name, sender, rcpt, code, enhanced, t)


# ================================================================ 4. delivery through the routes

class DeliveryTests(LabTestCase):
    """Mail submitted to Sendmail reaches each route's target the way the route says."""

    def deliver(self, sender, rcpt, auth=None, source=None):
        tag = uniq("deliver")
        t = LAB.transaction(sender, [rcpt], auth=auth, source=source, data=True,
                            body="Subject: %s\r\n\r\nhello\r\n" % tag)
        self.assertEqual(t.rcpt_codes, [250], repr(t) + self.context())
        self.assertEqual(t.data[0], 250, repr(t) + self.context())
        return tag, t.queue_id

    def test_route_target_gets_the_mail_with_the_routes_auth(self):
        tag, _ = self.deliver(EXT_SENDER, "someone@Partner.TEST", auth=AUTH)
        m = self.received("partner", "someone@partner.test", tag)
        self.assertIsNotNone(m.auth, "delivered without SMTP AUTH")
        mechanism, user, password, _ = m.auth
        self.assertIn(mechanism, ("PLAIN", "LOGIN"))
        self.assertEqual((user, password), (ROUTE_USER, ROUTE_PASSWORD))
        self.assertEqual(m.sender, EXT_SENDER)

    def test_wildcard_subdomain_reaches_the_wildcard_target(self):
        tag, _ = self.deliver(EXT_SENDER, "user@deep.sub.wild.test", auth=AUTH)
        m = self.received("wild", "user@deep.sub.wild.test", tag)
        self.assertIsNone(m.auth)

    def test_backup_mx_from_outside(self):
        tag, _ = self.deliver(EXT_SENDER, "alice@backup.test", source=OUTSIDE_CLIENT)
        self.received("backup", "alice@backup.test", tag)
        # Sendmail itself (access map, not the milter) refuses what the route does not list.
        t = LAB.transaction(EXT_SENDER, ["carol@backup.test", "x@sub.backup.test", "x@partner.test",
                                         "x@other.example"], source=OUTSIDE_CLIENT)
        for reply in t.rcpts:
            self.assertReply(reply, 550, "5.7.1", "Relaying denied", msg=repr(t))

    def test_starttls_required_route_is_not_delivered_in_clear(self):
        tag, qid = self.deliver(EXT_SENDER, "x@tlsreq.test", auth=AUTH)
        self.assertIsNotNone(qid)
        try:
            self.assertIn("encryption too weak 0 less than 112", deferral_reason(qid, "route_tlsreq_test"))
            self.assertEqual([m for m in SINKS["tls"].messages if tag in m.text], [])
        finally:
            remove_queued(qid)


# ================================================================ 4b. issue 11: host lists, ETRN, security on the wire

def deliver_tagged(test, rcpt, auth=AUTH, source=None):
    """Submit one message for rcpt through LAB (accepted), tagged; (tag, queue id)."""
    tag = uniq("wire")
    t = LAB.transaction(EXT_SENDER, [rcpt], auth=auth, source=source, data=True,
                        body="Subject: %s\r\n\r\nhello\r\n" % tag)
    test.assertEqual(t.rcpt_codes, [250], repr(t) + test.context())
    test.assertEqual(t.data[0] if t.data else None, 250, repr(t) + test.context())
    return tag, t.queue_id


def tagged(sink, tag):
    return [m for m in list(SINKS[sink].messages) if tag in m.text]


class FailoverTests(LabTestCase):
    """A route's host list (mailertable "mailer:[a]:[b]"): tried in order, AUTH for each host."""

    def test_first_host_refuses_the_second_gets_it_with_the_routes_auth(self):
        mailer, host, _ = LAB.parse("x@failover.test")
        self.assertEqual(host, "[%s]:[%s]" % (FAILOVER_FIRST, FAILOVER_SECOND))
        out = LAB.bt("/map authinfo AuthInfo:" + FAILOVER_FIRST, "/map authinfo AuthInfo:" + FAILOVER_SECOND)
        self.assertEqual(out.count('returns "U:%s"' % FAILOVER_USER), 2, out)
        tag, _ = deliver_tagged(self, "someone@failover.test")
        m = self.received("failover", "someone@failover.test", tag)
        self.assertIsNotNone(m.auth, "delivered without SMTP AUTH")
        self.assertEqual(m.auth[1:3], (FAILOVER_USER, FAILOVER_PASSWORD))
        self.assertEqual(m.sender, EXT_SENDER)

    def test_hosts_are_tried_in_the_order_listed(self):
        tag, _ = deliver_tagged(self, "a@order.test")
        tag_rev, _ = deliver_tagged(self, "b@order-rev.test")
        self.received("order_a", "a@order.test", tag)
        self.received("order_b", "b@order-rev.test", tag_rev)
        time.sleep(0.5)
        self.assertEqual(SINKS["order_b"].messages_to("a@order.test"), [])
        self.assertEqual(SINKS["order_a"].messages_to("b@order-rev.test"), [])


class EtrnTests(LabTestCase):
    """etrn.test is held until ETRN: a second lab whose daemon runs queue runs every 2 s (-q2s),
    as a real Sendmail does (-q10m or so); the ETRN route's mail waits through them."""

    RCPT = "user@etrn.test"

    @classmethod
    def setUpClass(cls):
        cls.lab = SendmailLab(config_path(), SINKS["catchall"].port, queue_interval="2s").start()  # stops itself on failure

    @classmethod
    def tearDownClass(cls):
        cls.lab.stop()

    def etrn(self, argument):
        s = self.lab.session()
        try:
            code, msg = s.docmd("ETRN " + argument)
            return code, msg.decode("utf-8", "replace")
        finally:
            with contextlib.suppress(Exception):
                s.quit()

    def held(self, qid):
        return self.lab.qf_field(qid, "N", "route_etrn_test")

    def test_held_through_queue_runs_until_etrn(self):
        tag = uniq("etrn")
        t = self.lab.transaction(EXT_SENDER, [self.RCPT], data=True, body="Subject: %s\r\n\r\nhello\r\n" % tag)
        self.assertEqual((t.rcpt_codes, t.data[0] if t.data else None), ([250], 250), repr(t) + self.context())
        qid = t.queue_id
        self.assertIsNotNone(qid, repr(t))
        try:
            # A queue run of the lab: a message queued (-odq) in the default group is delivered by it.
            control = uniq("control")
            r = self.lab.sendmail("-odq", "-f", "control@lab.test", control + "@other.example",
                                  input="Subject: %s\n\nqueued for the next queue run\n" % control)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(len(SINKS["catchall"].wait_for_message(control + "@other.example", timeout=20)), 1,
                             "no periodic queue run delivered the control message\n" + self.lab.mailq())
            time.sleep(5)   # two more queue runs
            self.assertEqual(tagged("etrn", tag), [], "delivered before ETRN")
            self.assertEqual(self.held(qid), "0", "a delivery attempt before ETRN\n" + self.lab.mailq())
            # routectl retry never kicks or returns held mail, however late
            r = run_routectl("retry", "--mta", "sendmail", "-c", config_path(), "--sendmail-config", self.lab.cf,
                             "--state", os.path.join(WORK, uniq("etrn-state") + ".json"),
                             "--now", str(int(time.time()) + 30 * 86400))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn(qid, r.stdout)
            time.sleep(1)
            self.assertEqual(self.held(qid), "0")

            code, msg = self.etrn("etrn.test")
            self.assertEqual(code, 250, msg)
            self.assertIn("Queuing for node etrn.test started", msg)
            found = SINKS["etrn"].wait_for_message(self.RCPT, timeout=20, text=tag)
            self.assertEqual(len(found), 1, "not delivered after ETRN\n" + self.lab.mailq())
            wait_for(lambda: self.held(qid) is None, 10, what="%s gone from the queue" % qid)
        finally:
            for path in self.lab.all_queue_files().values():
                if os.path.basename(path) == "qf" + qid:
                    for prefix in ("qf", "df", "xf"):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(os.path.join(os.path.dirname(path), prefix + qid))

    def test_etrn_only_for_etrn_routes(self):
        for argument in ("other.example", "partner.test", "backup.test", "#route_etrn_test", "sub.etrn.test"):
            code, msg = self.etrn(argument)
            self.assertEqual(code, 459, "%s: %s" % (argument, msg))
            self.assertIn("4.7.1 ETRN not allowed for %s (no ETRN route)" % argument, msg)
        for argument in ("ETRN.test", "@etrn.test"):
            self.assertEqual(self.etrn(argument)[0], 250, argument)


class WireSecurityTests(LabTestCase):
    """Each route's connection security, seen by the target (the sink records TLS and AUTH)."""

    def test_starttls_required_is_delivered_over_tls(self):
        tag, _ = deliver_tagged(self, "x@tlsok.test")
        m = self.received("tlsok", "x@tlsok.test", tag)
        self.assertTrue(m.tls, "delivered in clear")
        self.assertRegex(m.tls_version, r"^TLSv1\.[23]$")

    def test_starttls_uses_tls_when_offered_clear_text_when_not(self):
        tag, _ = deliver_tagged(self, "x@may.test")
        self.assertTrue(self.received("may", "x@may.test", tag).tls)
        tag, _ = deliver_tagged(self, "x@mayclear.test")
        self.assertFalse(self.received("mayclear", "x@mayclear.test", tag).tls)

    def test_none_never_starts_tls(self):
        tag, _ = deliver_tagged(self, "x@notls.test")
        m = self.received("notls", "x@notls.test", tag)
        self.assertFalse(m.tls)
        for session in SINKS["notls"].sessions_snapshot():
            self.assertNotIn("starttls", session.events, session)

    def test_auth_only_after_tls(self):
        tag, _ = deliver_tagged(self, "x@authtls.test")
        m = self.received("authtls", "x@authtls.test", tag)
        self.assertTrue(m.tls)
        self.assertIs(m.auth_tls, True, "AUTH in clear")
        self.assertEqual(m.auth[1:3], (FAILOVER_USER, FAILOVER_PASSWORD))
        sessions = SINKS["authtls"].sessions_snapshot()
        self.assertTrue(sessions)
        for session in sessions:
            # the sink offered AUTH before TLS too: Sendmail did not take it
            self.assertTrue(session.auth_offered_in_clear)
            self.assertFalse(session.auth_before_tls, session)

    def test_tls_verify_delivers_to_a_certificate_of_the_ca(self):
        self.assertIn("(TLS_Srv:%s) returns VERIFY:112+CN" % VERIFY_HOST, LAB.bt("/map access TLS_Srv:" + VERIFY_HOST))
        tag, _ = deliver_tagged(self, "x@verified.test")
        m = self.received("verified", "x@verified.test", tag)
        self.assertTrue(m.tls)

    def test_tls_verify_defers_a_self_signed_certificate(self):
        tag, qid = deliver_tagged(self, "x@selfsigned.test")
        self.assertIsNotNone(qid)
        try:
            self.assertIn("authentication failed", deferral_reason(qid, "route_selfsigned_test"))
            self.assertEqual(tagged("selfsigned", tag), [])
            # it got as far as TLS, then Sendmail refused the certificate and sent nothing
            self.assertTrue(any("tls" in s.events for s in SINKS["selfsigned"].sessions_snapshot()))
            self.assertFalse(any("mail" in s.events for s in SINKS["selfsigned"].sessions_snapshot()))
        finally:
            remove_queued(qid)


class TlsForAuthTests(LabTestCase):
    """The range with require_tls_for_auth, through Sendmail: the milter gets {tls_version} and
    {cipher} at MAIL, so AUTH over STARTTLS passes and AUTH in clear gets 530 5.7.0 at RCPT."""

    def test_starttls_and_auth_is_accepted(self):
        t = LAB.transaction(EXT_SENDER, ["x@partner.test"], auth=AUTH, source=TLS_CLIENT, starttls=True)
        self.assertEqual(t.mail[0], 250, repr(t))
        self.assertReply(t.rcpts[0], 250, msg=self.context())

    def test_auth_without_tls_is_refused(self):
        offset = MILTER.log_offset()
        t = LAB.transaction(EXT_SENDER, ["x@partner.test"], auth=AUTH, source=TLS_CLIENT)
        self.assertEqual(t.mail[0], 250, repr(t))
        self.assertReply(t.rcpts[0], 530, "5.7.0", "Must issue a STARTTLS command first")
        wait_for(lambda: "x@partner.test" in MILTER.log_text()[offset:], 5, what="milter log line")
        self.assertRegex(MILTER.log_text()[offset:], r"\[127\.0\.0\.14\]: 530 5\.7\.0 ")

    def test_other_clients_may_still_authenticate_in_clear(self):
        self.assertReply(self.rcpt("x@partner.test", auth=AUTH), 250)


# ================================================================ 5. retries on Sendmail's queue

class RetryTests(LabTestCase):
    """routectl retry --mta sendmail drives down.test's mail: 2 retries 1 minute apart, then the
    bounce. The lab's daemon runs no queue runs of its own (no -q), so every attempt after the
    first is one routectl asked for; --now fakes the clock."""

    SENDER = "bouncer@sender.test"
    RCPT = "user@down.test"
    GROUP = "route_down_test"

    def setUp(self):
        self.state = os.path.join(WORK, uniq("retry-state") + ".json")
        self.qid = None

    def tearDown(self):
        if self.qid:
            remove_queued(self.qid)

    def retry(self, now, dry_run=False):
        args = ["retry", "--mta", "sendmail", "-c", config_path(), "--sendmail-config", LAB.cf,
                "--state", self.state, "--now", str(now)]
        if dry_run:
            args.append("--dry-run")
        r = run_routectl(*args)
        self.assertEqual(r.returncode, 0, "routectl %s\n%s%s" % (" ".join(args), r.stdout, r.stderr))
        self.assertNotIn("warning", r.stdout + r.stderr)
        return [l for l in r.stdout.splitlines() if self.qid in l]

    def attempts(self):
        n = LAB.qf_field(self.qid, "N", self.GROUP)
        return None if n is None else int(n)

    def submit(self):
        tag = uniq("retry")
        t = LAB.transaction(self.SENDER, [self.RCPT], auth=AUTH, data=True,
                            body="Subject: %s\r\n\r\nhello\r\n" % tag)
        self.assertEqual(t.data[0] if t.data else None, 250, repr(t) + self.context())
        self.qid = t.queue_id
        wait_for(lambda: self.attempts() == 1, 20, what="first delivery attempt of %s" % self.qid)
        # It waits in the route's own queue group.
        self.assertIn(self.qid, LAB.queue_files(self.GROUP))
        self.assertNotIn(self.qid, LAB.queue_files())
        self.assertIn("Connection refused", LAB.qf_field(self.qid, "M", self.GROUP))
        self.tag = tag
        return int(LAB.qf_field(self.qid, "T", self.GROUP))

    def assertNoAction(self, now):
        self.assertEqual(self.retry(now), [], "at arrival%+d" % (now - self.T))
        time.sleep(0.3)
        self.assertEqual(self.attempts(), self.expected)

    def assertKick(self, now, attempt):
        lines = self.retry(now)
        self.assertEqual(len(lines), 1, "at arrival%+d: %r" % (now - self.T, lines))
        self.assertRegex(lines[0], r"^kick %s\b.*\battempt %d of 2\b.*\broute down\.test\b" % (self.qid, attempt))
        self.expected += 1
        try:
            wait_for(lambda: self.attempts() == self.expected, 15, what="delivery attempt %d" % self.expected)
        except LabError as e:
            self.fail("%s%s" % (e, self.context()))

    def assertExpire(self, now):
        lines = self.retry(now)
        self.assertEqual(len(lines), 1, "at arrival%+d: %r" % (now - self.T, lines))
        self.assertRegex(lines[0], r"^expire %s\b.*\b2 retries\b.*\broute down\.test\b" % self.qid)
        try:
            wait_for(lambda: self.attempts() is None, 15, what="%s gone from the queue" % self.qid)
            bounces = SINKS["catchall"].wait_for_message(self.SENDER, timeout=15, text=self.tag)
            self.assertEqual(len(bounces), 1, "no bounce for the sender%s" % self.context())
        except LabError as e:
            self.fail("%s%s" % (e, self.context()))
        ndr = bounces[0]
        self.assertEqual(ndr.sender, "")
        self.assertRegex(ndr.text, r"(?i)Final-Recipient: rfc822; ?%s" % re.escape(self.RCPT))
        self.assertIn("Action: failed", ndr.text)
        self.assertIn(self.qid, ndr.text)

    def test_1_schedule_then_return_to_sender(self):
        T = self.T = self.submit()
        self.expected = 1
        self.assertNoAction(T + 30)                      # first retry due at T+60
        lines = self.retry(T + 61, dry_run=True)         # dry run: said, not done
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^dry run: kick %s\b.*\battempt 1 of 2\b" % self.qid)
        time.sleep(0.5)
        self.assertEqual(self.attempts(), 1, "--dry-run caused a delivery attempt")
        self.assertKick(T + 61, 1)
        self.assertNoAction(T + 62)                      # second retry due at T+120
        self.assertKick(T + 125, 2)
        self.assertNoAction(T + 150)                     # return only 60 s after the last attempt
        self.assertExpire(T + 190)
        self.assertEqual(self.retry(T + 400), [])
        self.qid = None

    def test_2_lost_state_never_returns_early(self):
        T = self.T = self.submit()
        self.expected = 1
        self.assertKick(T + 61, 1)
        os.unlink(self.state)                            # state lost: counting starts again
        self.assertKick(T + 125, 1)
        self.assertKick(T + 190, 2)
        self.assertNoAction(T + 200)
        self.assertExpire(T + 260)
        self.qid = None


# ================================================================ 6. milter reloads

class ReloadTests(LabTestCase):
    """SIGHUP reload, good and bad, under Sendmail (standard config before each test)."""

    def setUp(self):
        use_config(make_config())
        self.pid = MILTER.proc.pid

    def tearDown(self):
        self.assertTrue(MILTER.running() and MILTER.proc.pid == self.pid,
                        "milter died or was restarted:\n" + MILTER.log_text()[-3000:])
        use_config(make_config())

    def test_reload_under_load(self):
        stop = threading.Event()
        problems, sessions = [], [0]

        def hammer():
            rcpts, expected = ["bob@backup.test", "someone@other.example", "x@partner.test"], [250, 250, 530]
            while not stop.is_set():
                try:
                    t = LAB.transaction(EXT_SENDER, rcpts)
                    if t.mail[0] != 250 or t.rcpt_codes != expected:
                        problems.append(repr(t))
                except Exception as e:  # noqa: BLE001 - any error is a finding
                    problems.append("%s: %s" % (type(e).__name__, e))
                sessions[0] += 1

        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(2)]
        for th in threads:
            th.start()
        try:
            wait_for(lambda: sessions[0] >= 5, 20, what="background sessions running")
            self.assertReply(self.rcpt("carol@backup.test"), 550, "5.1.1")
            before = sessions[0]
            MILTER.write_config(make_config(listed=("carol@backup.test", "bob@backup.test")))
            MILTER.reload()
            wait_for(lambda: self.rcpt("carol@backup.test")[0] == 250, 10, interval=0.1,
                     what="carol accepted after reload")
            self.assertReply(self.rcpt("CAROL@backup.test"), 250)
            self.assertReply(self.rcpt("alice@backup.test"), 550, "5.1.1")
            wait_for(lambda: sessions[0] >= before + 5, 20, what="sessions after reload")
        finally:
            stop.set()
            for th in threads:
                th.join(30)
        self.assertEqual(problems, [], "background sessions saw errors during reload:\n%s" % "\n".join(problems[:20]))

    def _bad_reload(self, text, line, needle=None):
        self.assertReply(self.rcpt("carol@backup.test"), 550, "5.1.1")
        offset = MILTER.log_offset()
        MILTER.write_config(text)
        MILTER.reload()
        where = "%s:%d" % (os.path.basename(MILTER.conf), line)
        wait_for(lambda: where in MILTER.log_text()[offset:], 5, what="milter log naming %s" % where)
        if needle:
            self.assertIn(needle, MILTER.log_text()[offset:])
        time.sleep(0.3)
        self.assertTrue(MILTER.running(), "milter died on a bad reload:\n" + MILTER.log_text())
        # the old rules stay in force
        self.assertReply(self.rcpt("alice@backup.test"), 250)
        self.assertReply(self.rcpt("carol@backup.test"), 550, "5.1.1")
        self.assertReply(self.rcpt("x@partner.test"), 530, "5.7.0")
        self.assertReply(self.rcpt("x@partner.test", auth=AUTH), 250)

    def test_bad_reload_syntax_error_keeps_old_config(self):
        lines = make_config(listed=("carol@backup.test",)).splitlines()
        idx = next(i for i, l in enumerate(lines) if l.startswith("routes = ("))
        lines.insert(idx, "broken_setting = ;")
        self._bad_reload("\n".join(lines) + "\n", idx + 1)

    def test_bad_reload_unknown_key_keeps_old_config(self):
        lines = make_config(listed=("carol@backup.test",)).splitlines()
        idx = next(i for i, l in enumerate(lines) if 'deliver_to = "listed"' in l)
        lines.insert(idx, '    colour = "blue";')
        self._bad_reload("\n".join(lines) + "\n", idx + 1, needle="colour")


# ================================================================ 7. bad input

class BadConfigTests(LabTestCase):
    """routectl sendmail with a config it cannot use: exit 78, the route named, no file touched."""

    def bad_configs(self):
        """(name, text, line, needle) for a config error and for a route Sendmail cannot express."""
        good = make_config()
        out = []
        lines = good.splitlines()
        idx = next(i for i, l in enumerate(lines) if 'domain = "*.wild.test"' in l)
        port = lines[:idx] + [l.replace("port = %d" % SINKS["wild"].port, "port = 70000") for l in lines[idx:idx + 1]] \
            + lines[idx + 1:]
        out.append(("port", "\n".join(port) + "\n", idx + 1, "70000"))
        smtps = good.rstrip().rstrip(";").rstrip().rstrip(")") + \
            ',\n  { domain = "smtps.test"; host = "smtps-mx.lab.test"; security = "tls"; }\n);\n'
        out.append(("smtps", smtps, len(smtps.splitlines()) - 1,
                    "routes: smtps.test: security \"tls\" (SMTPS, TLS from the first byte) cannot be expressed"))
        return out

    def generate(self, conf, out):
        return run_routectl("sendmail", "-c", conf, "-o", out, "--queue-dir", LAB.queue_dir, "--makemap",
                            "--sendmail-config", LAB.cf)

    def test_bad_config_keeps_existing_files(self):
        out = os.path.join(WORK, uniq("bad-existing"))
        r = self.generate(config_path(), out)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        before = file_snapshot(out)
        time.sleep(0.02)
        for name, text, line, needle in self.bad_configs():
            conf = write_config(os.path.join(WORK, uniq("bad") + ".conf"), text)
            r = self.generate(conf, out)
            self.assertEqual(r.returncode, EX_CONFIG, "%s: %s%s" % (name, r.stdout, r.stderr))
            self.assertIn("%s:%d:" % (conf, line), r.stderr, name)
            self.assertIn(needle, r.stderr, name)
            self.assertNotIn(ROUTE_PASSWORD, r.stdout + r.stderr)
            self.assertEqual(file_snapshot(out), before, "%s: a file was touched" % name)

    def test_bad_config_creates_nothing(self):
        for name, text, _, _ in self.bad_configs():
            out = os.path.join(WORK, uniq("bad-new"))
            conf = write_config(os.path.join(WORK, uniq("bad") + ".conf"), text)
            r = self.generate(conf, out)
            self.assertEqual(r.returncode, EX_CONFIG, r.stderr)
            self.assertFalse(os.path.exists(out) and os.listdir(out), "%s: files created" % name)


class MilterDownTests(LabTestCase):
    """F=T in INPUT_MAIL_FILTER: with the milter gone Sendmail answers 4xx, accepts nothing."""

    def test_milter_down_tempfails_and_comes_back(self):
        global MILTER
        rc = MILTER.stop()
        self.assertEqual(rc, 0, "exit status after SIGTERM\n" + MILTER.log_text())
        self.assertNotRegex(MILTER.log_text(), r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:")
        try:
            for rcpts, auth in ((["alice@backup.test"], None), (["carol@backup.test"], None),
                                (["x@partner.test", "someone@other.example"], AUTH)):
                try:
                    t = LAB.transaction(EXT_SENDER, rcpts, auth=auth)
                except smtplib.SMTPAuthenticationError as e:  # Sendmail tempfails AUTH itself
                    self.assertEqual(e.smtp_code, 454, str(e))
                    continue
                self.assertTrue(400 <= t.mail[0] < 500 or all(400 <= c < 500 for c in t.rcpt_codes),
                                "expected a tempfail: %r" % (t,))
                self.assertFalse(any(200 <= c < 300 for c in t.rcpt_codes), "accepted while milter down: %r" % (t,))
        finally:
            MILTER.start()
        wait_for(lambda: self.rcpt("carol@backup.test")[0] == 550, 15, interval=0.2, what="milter back")
        self.assertReply(self.rcpt("alice@backup.test"), 250)


# ================================================================ maps: every domain gets its own route

def printed_steps(stdout):
    """The /bin/sh script routectl sendmail prints after its report of the files."""
    start = stdout.find("# next, as root")
    if start < 0:
        raise LabError("routectl sendmail printed no steps:\n" + stdout)
    return stdout[start:]


class PrintedStepsTests(LabTestCase):
    """A route in warn mode through Sendmail's own files, put into service by running exactly what
    routectl sendmail prints (makemap, m4, SIGHUP through the PidFile): Sendmail relays the route's
    whole domain and the milter alone logs the recipients it does not list; in enforce mode
    Sendmail refuses them again."""

    ROUTE = (', { domain = "rehearse.test"; host = "[127.0.0.1]"; port = %d; treat_recipient_as = "local";\n'
             '    deliver_to = "listed"; addresses = [ "listed@rehearse.test" ]; mode = "%s"; }')

    def tearDown(self):
        use_config(make_config())
        self.apply()

    def apply(self):
        """routectl sendmail for the lab without --makemap, then its printed steps; the script."""
        r = run_routectl("sendmail", "-c", config_path(), "-o", LAB.maps_dir, "--queue-dir", LAB.queue_dir,
                         "--sendmail-config", LAB.cf)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        script = printed_steps(r.stdout)
        pid_file = LAB.path("sendmail.pid")
        before = os.stat(pid_file).st_mtime_ns
        done = subprocess.run(["/bin/sh", "-e", "-c", script], capture_output=True, text=True, env=LAB.env(),
                              timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(done.returncode, 0, script + done.stdout + done.stderr)
        wait_for(lambda: os.stat(pid_file).st_mtime_ns != before and port_open(LAB.host, LAB.port), 30,
                 what="sendmail started again by the printed SIGHUP")
        self.assertIsNone(LAB.proc.poll(), "the daemon did not survive its restart")
        return script

    def use_mode(self, mode):
        use_config(make_config(extra_routes=self.ROUTE % (SINKS["backup"].port, mode)))
        return self.apply()

    def test_the_printed_steps_compile_what_sendmail_cf_reads(self):
        script = self.use_mode("enforce")
        with open(LAB.cf) as f:
            cf = f.read()
        # K<name> <type> [flags] <path>: the maps the rebuilt sendmail.cf reads from the output directory
        declared = {m.group(3): m.group(2) for m in re.finditer(r"(?m)^K(\w+) (\w+) .*?(\S+)$", cf)
                    if m.group(3).startswith(LAB.maps_dir + "/")}
        compiled = {m.group(2): m.group(1) for m in
                    re.finditer(r"(?m)^\(?(?:umask 077 && )?makemap (?:-C \S+ )?(\w+) (\S+) < (\S+)", script)}
        self.assertEqual(set(declared), {os.path.join(LAB.maps_dir, n) for n in ("mailertable", "access", "authinfo")})
        self.assertEqual(compiled, declared, script)
        self.assertIn("-C %s " % LAB.cf, script)
        for path in compiled:
            self.assertGreaterEqual(os.stat(path + ".db").st_mtime_ns, os.stat(path).st_mtime_ns, path)
        self.assertEqual(os.stat(os.path.join(LAB.maps_dir, "authinfo.db")).st_mode & 0o777, 0o600)
        # The include line the admin adds once is the one the lab's sendmail.mc holds.
        include = re.search(r"(?m)^#   (include\(.*)$", script).group(1)
        with open(LAB.mc) as f:
            self.assertIn(include + "\n", f.read())
        # The new route's queue group: its directory made, its QUEUE_GROUP in the rebuilt cf.
        self.assertIn("install -d -m 0700 %s/route_rehearse_test\n" % LAB.queue_dir, script)
        self.assertTrue(os.path.isdir(os.path.join(LAB.queue_dir, "route_rehearse_test")))
        self.assertRegex(cf, r"(?m)^Qroute_rehearse_test, P=%s/route_rehearse_test," % re.escape(LAB.queue_dir))
        self.assertRegex(script, r"(?m)^kill -HUP \"\$\(head -n 1 %s\)\"$" % re.escape(LAB.path("sendmail.pid")))

    def test_warn_route_is_rehearsed_by_the_milter_then_enforced_by_sendmail(self):
        unlisted = uniq("unlisted") + "@rehearse.test"
        self.use_mode("warn")
        offset = MILTER.log_offset()
        self.assertReply(self.rcpt(unlisted, source=OUTSIDE_CLIENT), 250, msg="warn: Sendmail relays the domain")
        self.assertReply(self.rcpt("listed@rehearse.test", source=OUTSIDE_CLIENT), 250)
        wait_for(lambda: unlisted in MILTER.log_text()[offset:], 5, what="the milter's warning")
        warned = [l for l in MILTER.log_text()[offset:].splitlines() if unlisted in l]
        self.assertEqual(len(warned), 1, warned)
        self.assertRegex(warned[0], r": warn: RCPT from \S*\[127\.0\.0\.2\]: would reject: 550 5\.1\.1 ")
        with open(os.path.join(LAB.maps_dir, "access")) as f:
            access = f.read()
        self.assertIn("To:rehearse.test\tRELAY\n", access)
        self.assertNotIn("To:listed@rehearse.test", access)

        self.use_mode("enforce")
        with open(os.path.join(LAB.maps_dir, "access")) as f:
            access = f.read()
        self.assertNotIn("To:rehearse.test\t", access)
        self.assertIn("To:listed@rehearse.test\tRELAY\n", access)
        offset = MILTER.log_offset()
        self.assertReply(self.rcpt(unlisted, source=OUTSIDE_CLIENT), 550, "5.7.1", "Relaying denied",
                         msg="enforce: Sendmail's access map refuses it")
        self.assertReply(self.rcpt("listed@rehearse.test", source=OUTSIDE_CLIENT), 250)
        # A client Sendmail lets relay meets the milter, which now refuses rather than warns.
        self.assertReply(self.rcpt(unlisted), 550, "5.1.1")
        self.assertNotIn(": warn: ", MILTER.log_text()[offset:])


class MapSpecificityTests(LabTestCase):
    """A second lab's files (sendmail.cf and maps, no daemon: sendmail -bt only) for a config
    with a "*" route, a local wildcard route and more specific routes below it, local domains."""

    @classmethod
    def setUpClass(cls):
        cls.lab = None
        port = SINKS["wild"].port
        target = 'host = "[127.0.0.1]"; port = %d;' % port
        cls.catchall = SINKS["backup"].port
        cls.conf = os.path.join(WORK, "specific.conf")
        write_config(cls.conf, """\
milter = { socket = "%(socket)s"; };
local_domains = [ "%(own)s", "own.test" ];
routes = (
  { domain = "mxonly.test"; },
  { domain = "*.lwild.test"; %(t)s treat_recipient_as = "local"; },
  { domain = "ext.lwild.test"; %(t)s },
  { domain = "listed.lwild.test"; %(t)s treat_recipient_as = "local"; deliver_to = "listed";
    addresses = [ "alice@listed.lwild.test", "\\"#sales\\"@listed.lwild.test" ]; },
  { domain = "*"; host = "[127.0.0.1]"; port = %(catchall)d; }
);
""" % {"socket": milter_socket(), "own": "mx.lab.test", "t": target, "catchall": cls.catchall})
        cls.lab = SendmailLab(cls.conf, SINKS["catchall"].port)
        try:
            cls.lab.prepare()
        except BaseException:
            cls.lab.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.lab is not None:
            cls.lab.stop()

    def test_local_domains_and_hostless_routes_are_not_sent_to_the_star_route(self):
        star = ("route_esmtp_%d" % self.catchall, "[127.0.0.1]")
        self.assertEqual(self.lab.parse("a@far.example")[:2], star)        # control
        self.assertEqual(self.lab.parse("a@mxonly.test")[:2], ("esmtp", "mxonly.test"))
        # own.test: local for the milter, unknown to Sendmail (not in class w): its MX
        self.assertEqual(self.lab.parse("a@own.test")[:2], ("esmtp", "own.test"))
        # class w: delivered locally before the mailertable is read
        self.assertRegex(self.lab.bt("/parse a@mx.lab.test"), r"(?m)^mailer local, user a$")

    def test_more_specific_routes_win_over_the_local_wildcard(self):
        outside = {"client_addr": "192.0.2.7", "client_name": "client.example.net"}

        def relay(address):
            return self.lab.ruleset("check_rcpt", "<%s>" % address, outside)
        for relayed in ("alice@listed.lwild.test", "#sales@listed.lwild.test", "x@a.lwild.test",
                        "x@sub.ext.lwild.test", "x@sub.listed.lwild.test"):
            self.assertEqual(relay(relayed), "RELAY", relayed)
        for denied in ("other@listed.lwild.test", "x@ext.lwild.test", "x@lwild.test"):
            self.assertIn("Relaying denied", relay(denied), denied)

    def test_address_sendmail_cannot_look_up_is_an_error(self):
        conf = os.path.join(WORK, "quoted.conf")
        text = 'routes = (\n  { domain = "q.test"; treat_recipient_as = "local"; deliver_to = "listed";\n' \
               '    addresses = [ "ok@q.test",\n "\\"x@y\\"@q.test" ]; }\n);\n'
        write_config(conf, text)
        out = os.path.join(WORK, "quoted-out")
        r = run_routectl("sendmail", "-c", conf, "-o", out)
        self.assertEqual(r.returncode, EX_CONFIG, r.stdout + r.stderr)
        self.assertIn("quoted.conf:4: routes: q.test: address cannot be a Sendmail access map key", r.stderr)
        self.assertIn("(\"x@y@q.test\")", r.stderr)
        self.assertFalse(os.path.exists(out) and os.listdir(out))

    def test_no_smtputf8_so_a_labels_suffice(self):
        # Debian's 8.17 is built without USE_EAI: no SMTPUTF8, so a U-label recipient never
        # arrives and the maps need only A-labels (routectl sendmail writes nothing else).
        s = LAB.session()
        try:
            s.ehlo("client.example.net")
            self.assertFalse(s.has_extn("smtputf8"), s.esmtp_features)
        finally:
            s.close()


# ================================================================ the test sink's TLS (both MTA suites use it)

class SinkTlsTests(unittest.TestCase):
    """smtp_sink's STARTTLS/SMTPS and make_test_pki, against Python's own TLS client (no MTA):
    what the MTA tests conclude from message.tls and the session events must be true."""

    @classmethod
    def setUpClass(cls):
        cls.pki = PKI

    def verifying(self):
        return ssl.create_default_context(cafile=self.pki.ca_cert)

    def sink(self, **kw):
        sink = SmtpSink("tls-selftest.lab.test", **kw).start()
        self.addCleanup(sink.stop)
        return sink

    def client(self, sink, implicit=False, context=None):
        cls = smtplib.SMTP_SSL if implicit else smtplib.SMTP
        kw = {"context": context} if implicit else {}
        s = cls("localhost", sink.port, local_hostname="client.lab.test", timeout=10, **kw)
        self.addCleanup(s.close)
        s.ehlo()
        return s

    def test_starttls_then_auth(self):
        sink = self.sink(users={"u": "pw"}, tls="starttls", certfile=self.pki.cert, keyfile=self.pki.key)
        s = self.client(sink)
        self.assertTrue(s.has_extn("starttls"))
        s.starttls(context=self.verifying())  # the CA-signed certificate verifies for "localhost"
        s.ehlo()
        self.assertFalse(s.has_extn("starttls"), "STARTTLS offered again inside TLS")
        s.login("u", "pw")
        s.sendmail("a@lab.test", ["b@sink.test"], "Subject: tls\r\n\r\nhi\r\n")
        s.quit()
        m = sink.wait_for_message("b@sink.test", timeout=5)[0]
        self.assertTrue(m.tls)
        self.assertRegex(m.tls_version, r"^TLSv1\.[23]$")
        self.assertTrue(m.auth_tls)
        session = sink.sessions_snapshot()[0]
        self.assertEqual(session.events, ["connect", "ehlo", "starttls", "tls", "ehlo", "auth PLAIN u", "mail",
                                          "data", "quit"])
        self.assertFalse(session.auth_before_tls)

    def test_auth_in_clear_is_recorded(self):
        sink = self.sink(users={"u": "pw"}, tls="starttls", certfile=self.pki.cert, keyfile=self.pki.key)
        s = self.client(sink)
        s.login("u", "pw")
        s.sendmail("a@lab.test", ["b@sink.test"], "Subject: clear\r\n\r\nhi\r\n")
        s.quit()
        m = sink.wait_for_message("b@sink.test", timeout=5)[0]
        self.assertFalse(m.tls)
        self.assertIsNone(m.tls_version)
        self.assertIs(m.auth_tls, False)
        session = sink.sessions_snapshot()[0]
        self.assertTrue(session.auth_before_tls)
        self.assertTrue(session.auth_offered_in_clear)

    def test_auth_tls_only_hides_auth_in_clear(self):
        sink = self.sink(users={"u": "pw"}, tls="starttls", certfile=self.pki.cert, keyfile=self.pki.key,
                         auth_tls_only=True)
        s = self.client(sink)
        self.assertFalse(s.has_extn("auth"))
        self.assertEqual(s.docmd("AUTH PLAIN " + base64.b64encode(b"\0u\0pw").decode())[0], 502)
        s.starttls(context=self.verifying())
        s.ehlo()
        self.assertTrue(s.has_extn("auth"))

    def test_no_tls_offers_no_starttls(self):
        sink = self.sink()
        s = self.client(sink)
        self.assertFalse(s.has_extn("starttls"))
        self.assertEqual(s.docmd("STARTTLS")[0], 502)
        s.sendmail("a@lab.test", ["b@sink.test"], "Subject: plain\r\n\r\nhi\r\n")
        m = sink.wait_for_message("b@sink.test", timeout=5)[0]
        self.assertFalse(m.tls)
        self.assertIsNone(m.auth_tls)

    def test_implicit_tls_and_the_self_signed_certificate(self):
        sink = self.sink(tls="implicit", certfile=self.pki.selfsigned_cert, keyfile=self.pki.selfsigned_key)
        with self.assertRaises(ssl.SSLCertVerificationError):   # no CA vouches for it
            self.client(sink, implicit=True, context=self.verifying())
        wait_for(lambda: sink.tls_errors(), 5, what="the sink's record of the failed handshake")
        s = self.client(sink, implicit=True, context=ssl._create_unverified_context())
        self.assertFalse(s.has_extn("starttls"))
        s.sendmail("a@lab.test", ["b@sink.test"], "Subject: smtps\r\n\r\nhi\r\n")
        m = sink.wait_for_message("b@sink.test", timeout=5)[0]
        self.assertTrue(m.tls)
        self.assertEqual(sink.sessions_snapshot()[-1].events[:3], ["connect", "tls", "ehlo"])

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            SmtpSink(tls="smtps", certfile=self.pki.cert)
        with self.assertRaises(ValueError):
            SmtpSink(tls="starttls")


CLASS_ORDER = [SinkTlsTests, GeneratedFilesTests, ResolutionTests, RouteDecisionTests, HostileAddressTests,
               AddressDifferentialTests, DeliveryTests,
               FailoverTests, EtrnTests, WireSecurityTests, TlsForAuthTests, RetryTests,
               ReloadTests, BadConfigTests, MilterDownTests, PrintedStepsTests, MapSpecificityTests]


if __name__ == "__main__":
    sys.exit(suite_runner.run(sys.modules[__name__], "sendmail", CLASS_ORDER, tearDownModule))
