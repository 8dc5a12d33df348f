"""`routectl import-hmailserver` on a backup made as hMailServer makes it, then its decisions.

The fixture is written as hMailServer's BackupExecuter writes it: hMailServerBackup.xml in
UTF-16LE with a BOM, packed into "HMBackup <date>.7z" with the real 7-Zip (Debian's 7zip: 7zz,
or p7zip-full: 7z). Its routes, ranges and domains cover every kind the importer handles. The
imported config must pass `routectl check`; `routectl query` must give, for a table of
client / sender / AUTH / recipient cases, the answer hMailServer gives (its order: route list,
then the range's delivery class, then SMTP AUTH); and the same config, loaded by route-milter,
must give those answers through a real Postfix. Run as root:

    ROUTECTL=build/routectl ROUTE_MILTER=build/route-milter tests/integration/run.sh ImportTests
"""

import grp
import os
import pwd
import shutil
import smtplib
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab import Milter, PostfixLab, cleanup_all, free_port  # noqa: E402
from lab_relay import routectl_binary, run_routectl  # noqa: E402
import suite_runner  # noqa: E402

EX_USAGE, EX_DATAERR, EX_CANTCREAT = 64, 65, 73
SASL_USER, SASL_PASSWORD = "relayuser", "lab-Passw0rd"

# Passwords as hMailServer stores them (Blowfish, hmailserver-facts.md section 8).
RELAY_PASSWORD = "Pa55w0rd!longer-than-16"
RELAY_PASSWORD_HEX = "d787a78e8b8876d3eb1151611d47304c1385ac82758c2988"

TMP = None


def route(name, host="", port=25, tries=4, minutes=60, all_addresses=True, addresses=(), auth=None,
          rcpt_local=False, sender_local=False, security=0, description="", use_ssl=None):
    user, password = auth or ("", "")
    attrs = [("Name", name), ("Description", description), ("TargetHost", host), ("TargetPort", port),
             ("NumberOfTries", tries), ("MinutesBetweenTry", minutes), ("ToAllAddresses", int(all_addresses)),
             ("RequiresAuthentication", int(auth is not None)), ("Username", user), ("Password", password),
             ("TreatRecipientAsLocalDomain", int(rcpt_local)), ("TreatSenderAsLocalDomain", int(sender_local))]
    if use_ssl is None:
        attrs.append(("ConnectionSecurity", security))
    else:
        attrs.append(("UseSSL", int(use_ssl)))
    text = "<Route %s>" % " ".join('%s="%s"' % (k, xml_escape(str(v))) for k, v in attrs)
    if addresses:
        text += "<RouteAddresses>%s</RouteAddresses>" % "".join(
            '<RouteAddress Name="%s"/>' % xml_escape(a) for a in addresses)
    return text + "</Route>"


def security_range(name, lower, upper, priority, options, expires=None):
    return ('<SecurityRange Name="%s" LowerIP="%s" UpperIP="%s" Priority="%d" Options="%d" ExpiresTime="%s" '
            'Expires="%d"/>' % (xml_escape(name), lower, upper, priority, options, expires or "2001-01-01 00:00:00",
                                int(expires is not None)))


def xml_escape(s):
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


ALL = 1 | 64 | 128 | 256 | 512          # SMTP + every delivery class, no AUTH required
INTERNET, MY_COMPUTER = 96203, 71627     # hMailServer's defaults
REQUIRE_TLS_FOR_AUTH = 131072

ROUTES = [
    # A backup MX for two listed mailboxes (mixed case, as admins type them), two gateways in order.
    route("backup.example", host="mx1.backup.example|192.0.2.7", tries=5, minutes=30, all_addresses=False,
          addresses=["Alice@Backup.Example", "BOB@backup.example"], rcpt_local=True, security=2),
    # A smart host for every partner subdomain, STARTTLS required and SMTP AUTH.
    route("*.partner.example", host="smtp.partner.example", port=587, security=3,
          auth=("relay", RELAY_PASSWORD_HEX)),
    # A branch office that collects its mail with ETRN.
    route("etrn.example", host="[192.0.2.9]", rcpt_local=True, description="ETRN branch office"),
    # Senders of this domain count as local; its mail goes by MX.
    route("trusted.example", sender_local=True),
    # An IDN domain with one listed address; an older backup's UseSSL.
    route("bücher.example", host="mx.bücher.example", all_addresses=False, addresses=["Leser@bücher.example"],
          rcpt_local=True, use_ssl=True, port=465),
    # What route-milter cannot express: a "?" pattern and a route the wildcard before it shadows.
    route("mail?.example.net", host="mx.example.net"),
    route("*.legacy.example", host="old-gw.legacy.example", rcpt_local=True),
    route("sub.legacy.example", host="new-gw.legacy.example"),
    # AUTH without a host: hMailServer looks up MX and never uses the credentials.
    route("mxauth.example", auth=("u", "a62b3c438efae3db")),
]

RANGES = [
    security_range("My computer", "127.0.0.1", "127.0.0.1", 30, MY_COMPUTER),
    security_range("Internet", "0.0.0.0", "255.255.255.255", 10, INTERNET),
    security_range("Office", "127.0.0.2", "127.0.0.2", 20, ALL),
    security_range("Blocked", "127.0.0.3", "127.0.0.3", 40, 2 | 8),               # POP3 and IMAP, no SMTP
    security_range("Old partner", "198.51.100.0", "198.51.100.255", 25, ALL, "2020-01-01 00:00:00"),
    security_range("v6 LAN", "2001:db8::", "2001:db8::ffff", 20, INTERNET | REQUIRE_TLS_FOR_AUTH,
                   "2099-12-31 23:00:00"),
]

DOMAINS = [
    '<Domain Name="corp.example" Postmaster="" Active="1"><DomainAliases>'
    '<DomainAlias Name="corp-alias.example"/></DomainAliases><Accounts/></Domain>',
    '<Domain Name="dömäne.example" Active="1"/>',
    '<Domain Name="old.example" Active="0"/>',
]


def backup_xml(routes=ROUTES, ranges=RANGES, domains=DOMAINS, mode=3):
    return ('<?xml version="1.0" encoding="UTF-16"?>\r\n<Backup>\r\n'
            '<BackupInformation Mode="%d" Version="5.6.9-B2641"/>\r\n'
            '<Domains>%s</Domains>\r\n<SecurityRanges>%s</SecurityRanges>\r\n'
            '<Routes>%s</Routes>\r\n</Backup>\r\n' % (mode, "\r\n".join(domains), "\r\n".join(ranges),
                                                      "\r\n".join(routes)))


def seven_zip():
    for tool in ("7zz", "7z"):
        path = shutil.which(tool)
        if path:
            return path
    raise RuntimeError("no 7-Zip (7zz or 7z): apt-get install 7zip")


def make_backup(directory, xml, name="HMBackup 2026-12-01 030000.7z"):
    """Writes hMailServerBackup.xml (UTF-16LE, BOM) and packs it with 7-Zip, as hMailServer does."""
    os.makedirs(directory, exist_ok=True)
    xml_path = os.path.join(directory, "hMailServerBackup.xml")
    with open(xml_path, "wb") as f:
        f.write(b"\xff\xfe" + xml.encode("utf-16-le"))
    archive = os.path.join(directory, name)
    if os.path.exists(archive):
        os.unlink(archive)
    subprocess.run([seven_zip(), "a", "-bd", "-bso0", archive, "hMailServerBackup.xml"], cwd=directory, check=True)
    return archive


def setUpModule():
    global TMP
    if os.geteuid() != 0:
        raise RuntimeError("the integration tests must run as root")
    if not os.access(routectl_binary(), os.X_OK):
        raise RuntimeError("routectl binary not found: %s" % routectl_binary())
    TMP = tempfile.mkdtemp(prefix="hms-import-")
    os.chmod(TMP, 0o755)


def tearDownModule():
    global TMP
    cleanup_all()
    if TMP and not os.environ.get("LAB_KEEP"):
        shutil.rmtree(TMP, ignore_errors=True)
    TMP = None


class ImportTests(unittest.TestCase):
    """The command: what it writes, what it reports, what it refuses."""

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(TMP, "import")
        cls.archive = make_backup(cls.dir, backup_xml())
        cls.conf = os.path.join(cls.dir, "route-milter.conf")
        cls.result = run_routectl("import-hmailserver", "-o", cls.conf, cls.archive)

    def test_writes_a_config_that_passes_check(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertEqual(self.result.stdout, "")
        self.assertEqual(stat.S_IMODE(os.stat(self.conf).st_mode), 0o600)  # it holds a password
        check = run_routectl("check", "-v", "-c", self.conf)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("scope: all", check.stdout)
        self.assertIn("local domains: 3", check.stdout)  # corp, its alias, dömäne; old.example is inactive
        self.assertIn("ip ranges: 6", check.stdout)

    def test_maps_every_field(self):
        with open(self.conf, encoding="utf-8") as f:
            text = f.read()
        for expected in ['host = [ "mx1.backup.example", "[192.0.2.7]" ];',
                         'addresses = [ "alice@backup.example", "bob@backup.example" ];',
                         'retries = 4; retry_minutes = 30;',
                         'security = "starttls";', 'security = "starttls-required";', 'security = "tls";',
                         'port = 587;', 'port = 465;',
                         'auth = { user = "relay"; password = "%s"; };' % RELAY_PASSWORD,
                         'etrn = true;', 'treat_sender_as = "local";', 'require_tls_for_auth = true;',
                         'expires = "2099-12-31T23:00:00Z";', 'expires = "2020-01-01T00:00:00Z";',
                         'local_domains = [ "corp.example", "corp-alias.example", "dömäne.example" ];',
                         'scope = "all";', 'domain = "bücher.example";']:
            self.assertIn(expected, text)
        live = "\n".join(line for line in text.splitlines() if not line.startswith("#| "))
        self.assertNotIn('domain = "sub.legacy.example"', live)
        self.assertNotIn('domain = "mail?.example.net"', live)
        self.assertIn('#|   { domain = "sub.legacy.example";', text)
        self.assertIn('#|   { domain = "mail?.example.net";', text)

    def test_reports_what_it_could_not_map(self):
        err = self.result.stderr
        for expected in [
                'note: route "mail?.example.net": written commented out: route-milter\'s route domains are',
                'note: route "sub.legacy.example": written commented out: never reached in hMailServer: route '
                '"*.legacy.example" comes first alphabetically',
                'note: route "mxauth.example": RequiresAuthentication without TargetHost',
                'note: range "Blocked": no SMTP option: hMailServer drops its clients without a greeting',
                'note: range "Old partner": expired at 2020-01-01 00:00:00',
                'note: range "v6 LAN": expires at 2099-12-31 23:00:00',
                'note: range "v6 LAN": require TLS for auth',
                'note: domain "old.example": inactive',
                'wrote %s (mode 0600): 7 route(s)' % self.conf,
                '2 route(s) written commented out']:
            self.assertIn(expected, err)
        self.assertNotIn(RELAY_PASSWORD, err)

    def test_refuses_to_overwrite_without_force(self):
        conf = os.path.join(self.dir, "existing.conf")
        with open(conf, "w") as f:
            f.write("# mine\n")
        r = run_routectl("import-hmailserver", "-o", conf, self.archive)
        self.assertEqual(r.returncode, EX_CANTCREAT, r.stderr)
        self.assertIn("exists; give --force", r.stderr)
        with open(conf) as f:
            self.assertEqual(f.read(), "# mine\n")
        os.chmod(conf, 0o644)
        r = run_routectl("import-hmailserver", "--force", "-o", conf, self.archive)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(conf).st_mode), 0o640)  # the old mode, nothing for others (passwords)
        self.assertEqual([n for n in os.listdir(self.dir) if ".tmp." in n], [])

    def test_force_keeps_the_owner_group_and_mode_of_the_replaced_file(self):
        # The package installs the config 0640 root:route-milter; the daemon (User=route-milter)
        # reads it through its group. A replaced file keeps owner, group and mode, less what the
        # new content must not give: write for group and others; anything for others when it
        # holds passwords (this backup does).
        gid = grp.getgrnam("mail").gr_gid
        nobody = pwd.getpwnam("nobody").pw_uid
        for (owner, before), after in (((0, 0o640), 0o640), ((0, 0o644), 0o640), ((0, 0o600), 0o600),
                                       ((0, 0o660), 0o640), ((nobody, 0o6750), 0o750), ((0, 0o604), 0o600)):
            with self.subTest(mode=oct(before), owner=owner):
                conf = os.path.join(self.dir, "packaged.conf")
                with open(conf, "w") as f:
                    f.write("# packaged\n")
                os.chown(conf, owner, gid)
                os.chmod(conf, before)
                r = run_routectl("import-hmailserver", "--force", "-o", conf, self.archive)
                self.assertEqual(r.returncode, 0, r.stderr)
                st = os.stat(conf)
                self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (after, owner, gid))
                self.assertIn("wrote %s (mode %04o, owner and group %s:mail kept)"
                              % (conf, after, "root" if owner == 0 else "nobody"), r.stderr)
                if after != before:
                    self.assertIn("note: %s: mode %04o of the old file given as %04o" % (conf, before, after), r.stderr)
                else:
                    self.assertNotIn("given as", r.stderr)
                with open(conf, encoding="utf-8") as f:
                    self.assertIn(RELAY_PASSWORD, f.read())
                self.assertEqual([n for n in os.listdir(self.dir) if ".tmp." in n], [])
                if after & 0o040:
                    # The daemon's group reads it, and the loader takes it (group-readable passwords).
                    check = subprocess.run(["runuser", "-u", "nobody", "-g", "mail", "--", routectl_binary(), "check",
                                            "-c", conf], capture_output=True, text=True)
                    self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        # Without passwords, others keep reading.
        d = os.path.join(TMP, "keep-nopass")
        archive = make_backup(d, backup_xml(routes=[route("a.example", host="mx.a.example")]))
        conf = os.path.join(d, "r.conf")
        with open(conf, "w") as f:
            f.write("# old\n")
        os.chown(conf, 0, gid)
        os.chmod(conf, 0o664)
        r = run_routectl("import-hmailserver", "--force", "-o", conf, archive)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((stat.S_IMODE(os.stat(conf).st_mode), os.stat(conf).st_gid), (0o644, gid))

    def test_force_refuses_to_replace_a_symbolic_link(self):
        target = os.path.join(self.dir, "target.conf")
        with open(target, "w") as f:
            f.write("# the real file\n")
        link = os.path.join(self.dir, "link.conf")
        os.symlink(target, link)
        r = run_routectl("import-hmailserver", "--force", "-o", link, self.archive)
        self.assertEqual(r.returncode, EX_CANTCREAT, r.stderr)
        self.assertIn("%s is a symbolic link: routectl replaces a file, not a link" % link, r.stderr)
        self.assertTrue(os.path.islink(link))
        with open(target) as f:
            self.assertEqual(f.read(), "# the real file\n")
        self.assertEqual([n for n in os.listdir(self.dir) if ".tmp." in n], [])

    def test_never_prints_passwords(self):
        r = run_routectl("import-hmailserver", self.archive)
        self.assertEqual(r.returncode, EX_USAGE, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn("hold SMTP AUTH passwords, which are never printed: give -o FILE", r.stderr)
        self.assertNotIn(RELAY_PASSWORD, r.stderr)

    def test_stdout_without_passwords_and_the_xml_itself(self):
        d = os.path.join(TMP, "nopass")
        archive = make_backup(d, backup_xml(routes=[route("a.example", host="mx.a.example")]))
        r = run_routectl("import-hmailserver", archive)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('domain = "a.example";', r.stdout)
        # The XML inside the archive is accepted as well.
        r2 = run_routectl("import-hmailserver", os.path.join(d, "hMailServerBackup.xml"))
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertEqual(r2.stdout.split("\n", 2)[2], r.stdout.split("\n", 2)[2])  # all but the source line
        conf = os.path.join(d, "plain.conf")
        self.assertEqual(run_routectl("import-hmailserver", "-o", conf, archive).returncode, 0)
        self.assertEqual(stat.S_IMODE(os.stat(conf).st_mode), 0o644)

    def test_the_xml_after_a_larger_entry_in_one_solid_block(self):
        # libarchive's skip inside a solid block lost its place when the skipped entry ended on its
        # 64 KiB buffer: the XML after it read as "Truncated 7-Zip file body". Entries of several
        # such sizes (and one that is not), packed by 7-Zip itself into one block before the XML.
        d = os.path.join(TMP, "solid")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "hMailServerBackup.xml"), "wb") as f:
            f.write(b"\xff\xfe" + backup_xml().encode("utf-16-le"))
        line = b"Received: from mail.example by mx.example; Mon, 1 Dec 2026 03:00:00 +0000\r\n"
        for size in (65536, 65536 * 48, 65536 * 512 + 1000):
            with self.subTest(size=size):
                with open(os.path.join(d, "Data-messages.eml"), "wb") as f:
                    f.write((line * (size // len(line) + 1))[:size])
                archive = os.path.join(d, "solid-%d.7z" % size)
                subprocess.run([seven_zip(), "a", "-bd", "-bso0", "-ms=on", archive, "Data-messages.eml",
                                "hMailServerBackup.xml"], cwd=d, check=True)
                listing = subprocess.run([seven_zip(), "l", "-slt", archive], capture_output=True, text=True,
                                         check=True).stdout
                self.assertIn("Solid = +", listing)
                self.assertIn("Blocks = 1\n", listing)
                paths = [l[7:] for l in listing.splitlines() if l.startswith("Path = ") and not l.endswith(".7z")]
                self.assertEqual(paths, ["Data-messages.eml", "hMailServerBackup.xml"])
                r = run_routectl("import-hmailserver", "--force", "-o", os.path.join(d, "solid.conf"), archive)
                self.assertEqual(r.returncode, 0, r.stderr)
                with open(os.path.join(d, "solid.conf"), encoding="utf-8") as f, open(self.conf, encoding="utf-8") as g:
                    self.assertEqual(f.read().split("\n", 2)[2], g.read().split("\n", 2)[2])  # all but the source line

    def test_usage_errors(self):
        for argv, shown in ((["-c", self.conf, self.archive], "invalid option -- 'c'"),
                            (["--postmap", self.archive], "unrecognized option '--postmap'"),
                            ([], "missing BACKUP"),
                            ([self.archive, self.archive], "exactly one BACKUP")):
            with self.subTest(argv=argv):
                r = run_routectl("import-hmailserver", *argv)
                self.assertEqual(r.returncode, EX_USAGE, r.stderr)
                self.assertIn(shown, r.stderr)
                self.assertIn("usage: routectl import-hmailserver [-o FILE] [--force] BACKUP\n", r.stderr)
        r = run_routectl("import-hmailserver", os.path.join(TMP, "absent.7z"))
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertIn("absent.7z: No such file or directory", r.stderr)

    def assertRefused(self, archive, message):
        conf = os.path.join(TMP, "refused.conf")
        r = run_routectl("import-hmailserver", "-o", conf, archive)
        self.assertEqual(r.returncode, EX_DATAERR, r.stdout + r.stderr)
        self.assertIn(message, r.stderr)
        self.assertFalse(os.path.exists(conf))
        self.assertEqual([n for n in os.listdir(TMP) if ".tmp." in n], [])

    def test_bad_backups_are_refused_whole(self):
        with open(self.archive, "rb") as f:
            data = f.read()
        truncated = os.path.join(TMP, "truncated.7z")
        with open(truncated, "wb") as f:
            f.write(data[:len(data) // 2])
        self.assertRefused(truncated, "truncated")
        other = os.path.join(TMP, "other")
        os.makedirs(other, exist_ok=True)
        with open(os.path.join(other, "config.xml"), "w") as f:
            f.write("<configuration><route/></configuration>")
        self.assertRefused(os.path.join(other, "config.xml"), "not an hMailServer backup (root element <configuration>")
        self.assertRefused(make_backup(os.path.join(TMP, "bad-password"), backup_xml(
            routes=[route("a.example", host="mx.a.example", auth=("u", "secret"))])),
            'route "a.example": Password: encrypted password is 6 hex digits')
        self.assertRefused(make_backup(os.path.join(TMP, "no-settings"), backup_xml(mode=2)),
                           "the backup was made without Settings")
        self.assertRefused(make_backup(os.path.join(TMP, "tie"), backup_xml(ranges=RANGES + [
            security_range("LAN", "10.0.0.0", "10.255.255.255", 10, ALL)])),
            'range "LAN": overlaps range "Internet" at equal priority 10')


# hMailServer's answer for each case; the route-milter rule names the same refusal.
# (client, MAIL FROM, authenticated, RCPT, expected routectl query line start)
QUERY_CASES = [
    # Internet (203.0.113.5): AUTH for L2L, L2E, E2E, not for E2L.
    ("203.0.113.5", "x@far.example", False, "alice@backup.example", "NO OBJECTION"),
    ("203.0.113.5", "x@far.example", False, "ALICE@Backup.example", "NO OBJECTION"),
    ("203.0.113.5", "x@far.example", False, "carol@backup.example", "REJECT 550 5.1.1"),
    ("203.0.113.5", "x@far.example", True, "carol@backup.example", "REJECT 550 5.1.1"),  # list before AUTH
    ("203.0.113.5", "x@far.example", False, "a@x.partner.example", "REJECT 530 5.7.0"),
    ("203.0.113.5", "x@far.example", True, "a@x.partner.example", "NO OBJECTION"),
    ("203.0.113.5", "x@far.example", False, "u@corp.example", "NO OBJECTION"),
    ("203.0.113.5", "x@far.example", False, "u@corp-alias.example", "NO OBJECTION"),
    ("203.0.113.5", "x@far.example", False, "u@dömäne.example", "NO OBJECTION"),
    ("203.0.113.5", "me@corp.example", False, "u@corp.example", "REJECT 530 5.7.0"),
    ("203.0.113.5", "boss@trusted.example", False, "a@far.example", "REJECT 530 5.7.0"),
    ("203.0.113.5", "boss@trusted.example", True, "a@far.example", "NO OBJECTION"),
    ("203.0.113.5", "x@far.example", False, "leser@BÜCHER.example", "NO OBJECTION"),
    ("203.0.113.5", "x@far.example", False, "other@bücher.example", "REJECT 550 5.1.1"),
    ("203.0.113.5", "x@far.example", False, "x@etrn.example", "NO OBJECTION"),
    # The shadowed route: hMailServer takes *.legacy.example (recipient local) for sub.legacy.example.
    ("203.0.113.5", "x@far.example", False, "x@sub.legacy.example", "NO OBJECTION"),
    # My computer: AUTH only for E2E.
    ("127.0.0.1", "x@far.example", False, "a@far.example", "REJECT 530 5.7.0"),
    ("127.0.0.1", "me@corp.example", False, "a@far.example", "NO OBJECTION"),
    # Office: no AUTH for anything. Blocked: no SMTP bit, refused even with AUTH.
    ("127.0.0.2", "x@far.example", False, "a@far.example", "NO OBJECTION"),
    ("127.0.0.3", "x@far.example", True, "u@corp.example", "REJECT 550 5.7.1"),
    # The expired range matches no one: Internet decides.
    ("198.51.100.5", "x@far.example", False, "a@far.example", "REJECT 530 5.7.0"),
    # IPv6: the v6 LAN range (AUTH needs TLS); no range for other IPv6 clients.
    ("2001:db8::5", "x@far.example", False, "u@corp.example", "NO OBJECTION"),
    ("2001:db8::5", "x@far.example", True, "a@far.example", "REJECT 530 5.7.0"),
    ("2001:db9::5", "x@far.example", False, "u@corp.example", "REJECT 550 5.7.1"),
]


class QueryTests(unittest.TestCase):
    """routectl query on the imported config gives hMailServer's answers."""

    @classmethod
    def setUpClass(cls):
        d = os.path.join(TMP, "query")
        cls.conf = os.path.join(d, "route-milter.conf")
        r = run_routectl("import-hmailserver", "-o", cls.conf, make_backup(d, backup_xml()))
        if r.returncode != 0:
            raise RuntimeError("import failed: %s" % r.stderr)

    def test_table(self):
        for client, sender, auth, rcpt, expected in QUERY_CASES:
            args = ["query", "-c", self.conf, "--client", client, "--from", "<%s>" % sender]
            if auth:
                args += ["--auth", SASL_USER]
            r = run_routectl(*(args + ["<%s>" % rcpt]))
            with self.subTest(client=client, sender=sender, auth=auth, rcpt=rcpt):
                # routectl query's exit status: 1 for a refusal (5xx), 0 for no objection.
                self.assertEqual(r.returncode, 1 if expected.startswith("REJECT 5") else 0, r.stdout + r.stderr)
                line = [l for l in r.stdout.splitlines() if l.startswith("<%s>: " % rcpt)]
                self.assertEqual(len(line), 1, r.stdout)
                self.assertTrue(line[0].startswith("<%s>: %s" % (rcpt, expected)), r.stdout)
        # With TLS, the v6 LAN range accepts the authenticated relay.
        r = run_routectl("query", "-c", self.conf, "--client", "2001:db8::5", "--from", "<x@far.example>",
                         "--auth", SASL_USER, "--tls", "<a@far.example>")
        self.assertIn("<a@far.example>: NO OBJECTION", r.stdout)


class PostfixTests(unittest.TestCase):
    """The imported config in route-milter, a few RCPTs through a real Postfix."""

    @classmethod
    def setUpClass(cls):
        d = os.path.join(TMP, "postfix")
        conf = os.path.join(d, "imported.conf")
        r = run_routectl("import-hmailserver", "-o", conf, make_backup(d, backup_xml()))
        if r.returncode != 0:
            raise RuntimeError("import failed: %s" % r.stderr)
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        cls.milter = Milter(os.path.join(d, "milter"), config_text=text,
                            socket_spec="inet:%d@127.0.0.1" % free_port(), name="imported")
        cls.milter.start()
        try:
            cls.lab = PostfixLab(milter=cls.milter.postfix_socket, users={SASL_USER: SASL_PASSWORD}).start()
        except BaseException:
            cls.milter.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.stop()
        cls.milter.stop()

    def rcpts(self, source, sender, recipients, auth=False):
        s = smtplib.SMTP(self.lab.host, self.lab.port, local_hostname="client.example.net", timeout=30,
                         source_address=(source, 0))
        try:
            s.ehlo()
            if auth:
                s.login(SASL_USER, SASL_PASSWORD)
            return [code for code, _ in self.lab.transaction(sender, recipients, smtp=s).rcpts]
        finally:
            s.quit()

    def test_my_computer(self):
        self.assertEqual(self.rcpts("127.0.0.1", "x@far.example",
                                    ["alice@backup.example", "carol@backup.example", "u@corp.example", "a@far.example"]),
                         [250, 550, 250, 530])
        self.assertEqual(self.rcpts("127.0.0.1", "x@far.example", ["a@far.example"], auth=True), [250])

    def test_office_and_blocked(self):
        self.assertEqual(self.rcpts("127.0.0.2", "x@far.example", ["a@far.example", "x@sub.legacy.example"]), [250, 250])
        self.assertEqual(self.rcpts("127.0.0.3", "x@far.example", ["u@corp.example"], auth=True), [550])


def uncomment(text, name):
    """`text` with the route written commented out as `name` uncommented, as its comment says:
    "#| " deleted from the start of each of its lines."""
    head = text.index('# hMailServer route "%s", written commented out' % name)
    out, state = [], 0
    for line in text[head:].split("\n"):
        marked = line.startswith("#| ")
        if state == 0 and marked:
            state = 1
        elif state == 1 and not marked:
            state = 2
        out.append(line[3:] if state == 1 else line)
    return text[:head] + "\n".join(out)


class ShadowedRouteTests(unittest.TestCase):
    """A "*" route comes first in hMailServer's order and takes every domain: the routes after it
    are written whole, commented out, with why; uncommented, each checks."""

    NOTE = ("Partner relay, contract 2019-44: " + " ".join("clause-%d Grüße" % k for k in range(120)) +
            ' end\n}; scope = "routes"; */ ";\n@include "/etc/passwd"\n')

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(TMP, "shadowed")
        routes = [
            route("*", host="smarthost.example.net", port=587, security=3, auth=("relay", RELAY_PASSWORD_HEX)),
            route("alpha.example", host="mx.alpha.example", all_addresses=False, description=cls.NOTE,
                  addresses=["User%d@Alpha.Example" % k for k in range(250)]),
            route("beta.example", host="mx1.beta.example|mx2.beta.example", all_addresses=False,
                  addresses=["a@beta.example", "b@beta.example"], rcpt_local=True, tries=3),
        ]
        # The note's newlines as hMailServer writes them (&#10;): a literal one would be a blank.
        xml = backup_xml(routes=routes).replace("\n", "&#10;").replace("\r&#10;", "\r\n")
        cls.archive = make_backup(cls.dir, xml)
        cls.conf = os.path.join(cls.dir, "route-milter.conf")
        cls.result = run_routectl("import-hmailserver", "-o", cls.conf, cls.archive)
        with open(cls.conf, encoding="utf-8") as f:
            cls.text = f.read()

    def check(self, text, name):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return run_routectl("check", "-v", "-c", path)

    def test_the_shadowed_routes_are_commented_out_whole_and_reported(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertIn("1 route(s) (0 listed address(es), 1 with SMTP AUTH), 2 route(s) written commented out",
                      self.result.stderr)
        for name in ("alpha.example", "beta.example"):
            self.assertIn('note: route "%s": written commented out: never reached in hMailServer: route "*" comes '
                          'first alphabetically and matches every domain' % name, self.result.stderr)
            self.assertIn('# hMailServer route "%s", written commented out: never reached in hMailServer' % name,
                          self.text)
        for k in range(250):
            self.assertIn('"user%d@alpha.example"' % k, self.text)
        self.assertIn('#|     host = [ "mx1.beta.example", "mx2.beta.example" ];', self.text)
        # The note's newlines reached the importer, which blanked them.
        self.assertIn('note: route "alpha.example": control characters in the description replaced by blanks',
                      self.result.stderr)
        self.assertNotIn(RELAY_PASSWORD, self.result.stderr)
        check = self.check(self.text, "as-written.conf")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("routes: 1", check.stdout)

    def test_no_line_of_the_note_leaves_its_string(self):
        for line in self.text.splitlines():
            bare = line[3:] if line.startswith("#| ") else line
            self.assertFalse(bare.lstrip().startswith("@"), line)
            self.assertFalse(bare.lstrip().startswith("}; scope"), line)

    def test_each_uncommented_checks_and_keeps_the_whole_note(self):
        for name, listed in (("alpha.example", 250), ("beta.example", 2)):
            check = self.check(uncomment(self.text, name), name + ".conf")
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            self.assertIn("routes: 2", check.stdout)
        text = uncomment(self.text, "alpha.example")
        path = os.path.join(self.dir, "alpha-shown.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, 0o600)
        shown = run_routectl("show", "-c", path)
        self.assertEqual(shown.returncode, 0, shown.stderr)
        # Whole: its line ends blanked, nothing else changed.
        whole = self.NOTE.replace("\n", " ").replace("\\", "\\\\").replace('"', '\\"')
        self.assertGreater(len(whole), 1000)
        self.assertIn('"%s"' % whole, shown.stdout)
        both = self.check("\n".join(line[3:] if line.startswith("#| ") else line for line in self.text.split("\n")),
                          "both.conf")
        self.assertEqual(both.returncode, 0, both.stdout + both.stderr)
        self.assertIn("routes: 3", both.stdout)


CLASS_ORDER = [ImportTests, ShadowedRouteTests, QueryTests, PostfixTests]

if __name__ == "__main__":
    sys.exit(suite_runner.run(sys.modules[__name__], "hmailserver-integration", CLASS_ORDER, cleanup_all))
