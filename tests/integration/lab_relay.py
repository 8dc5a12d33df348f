"""Relaying labs for the `routectl postfix` / `routectl retry` integration tests.

Builds on lab.py (same cleanup registry: every Postfix started here is stopped by
lab.cleanup_all(), also on failure).  RelayLab is a PostfixLab that can really
deliver: it adds the smtp(8) client and the virtual(8) mailbox agent to
master.cf, can take routectl's main.cf.snippet / master.cf.snippet, can keep
mailboxes (maildirs under the lab directory) and reads its queue with
`postqueue -j`.  Nothing leaves 127.0.0.1: route hosts are other labs on
loopback ports, or a loopback port nobody listens on.
"""

import contextlib
import json
import os
import pwd
import re
import shutil
import subprocess
import time

from lab import POSTCONF as POSTCONF_BIN  # noqa: F401 (re-export)
from lab import REPO_ROOT, LabError, PostfixLab, free_port, wait_for  # noqa: F401 (re-export)

POSTMAP = shutil.which("postmap") or "/usr/sbin/postmap"
POSTQUEUE = shutil.which("postqueue") or "/usr/sbin/postqueue"
POSTSUPER = shutil.which("postsuper") or "/usr/sbin/postsuper"

EX_CONFIG = 78

# Delivery agents the base lab does not run (it discards everything).
DELIVERY_MASTER_CF = """\
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
virtual   unix  -       n       n       -       -       virtual
"""


def routectl_binary():
    p = os.environ.get("ROUTECTL") or os.path.join(REPO_ROOT, "build", "routectl")
    return os.path.abspath(p)


def run_routectl(*args, timeout=60, check=False):
    """Run routectl with args; returns CompletedProcess (text)."""
    r = subprocess.run([routectl_binary()] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise LabError("routectl %s failed (exit %d):\n%s%s" % (" ".join(map(str, args)), r.returncode,
                                                                r.stdout, r.stderr))
    return r


def routectl_has_command(command):
    """True when routectl knows command (its usage text mentions it)."""
    binary = routectl_binary()
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        return False
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return re.search(r"routectl %s\b" % re.escape(command), r.stdout + r.stderr) is not None


def write_config(path, text):
    """A route-milter config (mode 0600: it may hold passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def postmap_query(key, table, config_dir=None):
    """postmap -q KEY TABLE; returns the value or None (not found)."""
    cmd = [POSTMAP]
    if config_dir:
        cmd += ["-c", config_dir]
    r = subprocess.run(cmd + ["-q", key, table], capture_output=True, text=True)
    if r.returncode == 1:
        return None
    if r.returncode != 0:
        raise LabError("postmap -q %s %s failed (%d): %s" % (key, table, r.returncode, r.stderr))
    return r.stdout.rstrip("\n")


def transport_lookup(domain, table, config_dir=None):
    """The transport(5) search Postfix's trivial-rewrite does for a recipient domain.

    domain, then .parent for each parent domain, then "*" (parent_domain_matches_subdomains
    without transport_maps, Postfix's default).  Returns (matched key, value) or (None, None).
    """
    domain = domain.lower()
    keys = [domain]
    labels = domain.split(".")
    keys += ["." + ".".join(labels[i:]) for i in range(1, len(labels))]
    keys.append("*")
    for k in keys:
        v = postmap_query(k, table, config_dir)
        if v is not None:
            return k, v
    return None, None


def parse_snippet(path):
    """main.cf.snippet -> [(name, value)] in file order (comments and blanks skipped)."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if "=" not in s:
                raise LabError("%s:%d: not 'name = value': %r" % (path, n, line))
            name, value = s.split("=", 1)
            out.append((name.strip(), value.strip()))
    return out


def master_snippet_services(path):
    """Service lines (name, type, command...) of master.cf.snippet (comments, -o lines skipped)."""
    out = []
    with open(path) as f:
        for line in f:
            if not line.strip() or line.lstrip().startswith("#") or line[0].isspace():
                continue
            out.append(line.split())
    return out


def file_snapshot(directory):
    """{name: (bytes, mtime_ns, inode, mode)} of every regular file in directory."""
    snap = {}
    for name in sorted(os.listdir(directory)):
        p = os.path.join(directory, name)
        st = os.lstat(p)
        if not os.path.isfile(p):
            snap[name] = ("<not a regular file>", st.st_mtime_ns, st.st_ino, st.st_mode)
            continue
        with open(p, "rb") as f:
            snap[name] = (f.read(), st.st_mtime_ns, st.st_ino, st.st_mode & 0o7777)
    return snap


def duration_seconds(value):
    """Postfix time value ("5d", "3600s", "90m", "2w", "100") -> seconds (bare number: days,
    as for maximal_queue_lifetime/bounce_queue_lifetime)."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", value)
    if not m:
        raise LabError("not a Postfix time value: %r" % value)
    unit = m.group(2) or "d"
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}[unit]


class RelayLab(PostfixLab):
    """PostfixLab with the smtp client and virtual mailboxes.

    mailboxes: addresses delivered by virtual(8) to maildirs under DIR/mail (read them with
    mailbox_messages()); their domains become virtual_mailbox_domains.
    """

    def __init__(self, mailboxes=(), **kw):
        super().__init__(**kw)
        self.mailboxes = [m.lower() for m in mailboxes]

    @property
    def mail_dir(self):
        return self.path("mail")

    def _setup(self):
        super()._setup()
        with open(self.path("etc", "master.cf"), "a") as f:
            f.write(DELIVERY_MASTER_CF)
        if self.mailboxes:
            nobody = pwd.getpwnam("nobody")
            os.makedirs(self.mail_dir)
            os.chown(self.mail_dir, nobody.pw_uid, nobody.pw_gid)
            os.chmod(self.mail_dir, 0o700)
            domains = sorted({m.split("@", 1)[1] for m in self.mailboxes})
            entries = ", ".join("%s=%s/" % (m, m.replace("@", "_")) for m in self.mailboxes)
            settings = {
                "virtual_mailbox_domains": " ".join(domains),
                "virtual_mailbox_base": self.mail_dir,
                "virtual_mailbox_maps": "inline:{ %s }" % entries,
                "virtual_uid_maps": "static:%d" % nobody.pw_uid,
                "virtual_gid_maps": "static:%d" % nobody.pw_gid,
                "virtual_transport": "virtual",
            }
            self.postconf("-e", *["%s = %s" % kv for kv in settings.items()])

    # ------------------------------------------------------------ routectl snippets
    def apply_snippets(self, out_dir, overrides=None, reload=True):
        """Apply routectl's main.cf.snippet (postconf -e, line by line) and append its
        master.cf.snippet, then overrides {name: value}; reload when running."""
        for name, value in parse_snippet(os.path.join(out_dir, "main.cf.snippet")):
            self.postconf("-e", "%s = %s" % (name, value))
        master = os.path.join(out_dir, "master.cf.snippet")
        if os.path.exists(master):
            with open(master) as f:
                text = f.read()
            if text.strip():
                with open(self.path("etc", "master.cf"), "a") as f:
                    f.write("\n" + text + ("" if text.endswith("\n") else "\n"))
        for name, value in (overrides or {}).items():
            self.postconf("-e", "%s = %s" % (name, value))
        if reload and self.proc is not None:
            self.reload()

    def main_value(self, name):
        return self.postconf("-h", name).strip()

    # ------------------------------------------------------------ queue
    def queue(self):
        """postqueue -j as a list of dicts."""
        r = subprocess.run([POSTQUEUE, "-c", self.config_dir, "-j"], capture_output=True, text=True)
        if r.returncode != 0:
            raise LabError("postqueue -j failed: %s" % r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def queued(self, queue_id):
        for m in self.queue():
            if m.get("queue_id") == queue_id:
                return m
        return None

    def wait_queue_state(self, queue_id, state, timeout=15):
        """Wait until the message is in queue `state` ("deferred", ...) or, for None, gone."""
        def ok():
            m = self.queued(queue_id)
            return m is None if state is None else (m is not None and m.get("queue_name") == state)
        try:
            wait_for(ok, timeout, interval=0.1, what="%s in queue %s" % (queue_id, state))
        except LabError as e:
            raise LabError("%s; queue now: %r\nlog tail:\n%s" % (e, self.queue(), self.log_text()[-3000:]))
        return self.queued(queue_id)

    def submit(self, sender, recipients, subject="route test", auth=None):
        """SMTP transaction with DATA; returns the queue id (raises unless accepted)."""
        body = "Subject: %s\r\nMessage-ID: <%s@lab.test>\r\n\r\nhello\r\n" % (subject, os.urandom(6).hex())
        t = self.transaction(sender, recipients, auth=auth, data=True, body=body)
        if t.data is None or t.data[0] != 250:
            raise LabError("message not accepted: %r" % (t,))
        m = re.search(r"queued as ([0-9A-Za-z]+)", t.data[1])
        if not m:
            raise LabError("no queue id in %r" % (t.data,))
        return m.group(1)

    def delete_all_mail(self):
        with contextlib.suppress(Exception):
            subprocess.run([POSTSUPER, "-c", self.config_dir, "-d", "ALL"], capture_output=True, timeout=30)

    # ------------------------------------------------------------ mailboxes
    def mailbox_messages(self, address):
        """Texts of the messages in address's maildir (new/ and cur/)."""
        base = os.path.join(self.mail_dir, address.lower().replace("@", "_"))
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            if not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), "r", errors="replace") as f:
                    out.append(f.read())
        return out

    def wait_log(self, pattern, offset=0, timeout=15, what=None, flags=0):
        """Wait for a regex in the maillog (after offset); returns the match."""
        rx = re.compile(pattern, flags)
        found = []

        def ok():
            m = rx.search(self.log_since(offset))
            if m:
                found.append(m)
            return bool(m)
        try:
            wait_for(ok, timeout, interval=0.1, what=what or "log line /%s/" % pattern)
        except LabError as e:
            raise LabError("%s; log since offset:\n%s" % (e, self.log_since(offset)[-4000:]))
        return found[0]
