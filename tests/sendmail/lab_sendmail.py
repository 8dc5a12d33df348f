"""Private, throw-away Sendmail instance ("lab") for the route-milter Sendmail tests.

Debian's sendmail-bin conflicts with postfix, so it is never installed: run.sh unpacks the
packages with dpkg -x into build/sendmail-root (SENDMAIL_ROOT), and this module runs the
binaries from there through two small wrappers in build/sendmail-root/lab-bin:

  sendmail  sets LD_LIBRARY_PATH for the unpacked libraries and runs Sendmail in a private UTS
            namespace whose host name is mx.lab.test (Sendmail sleeps 60 s on every start when
            the machine's host name is unqualified and cannot be resolved); for a lab with
            target host names also in a private mount namespace whose /etc/hosts names them;
  makemap   the unpacked makemap.

routectl finds them first in PATH (tool_env()), as it finds the system's sendmail/makemap on a
real server.

SendmailLab builds everything in one directory under build/ (Sendmail refuses maps below a
world-writable directory such as /tmp): the route-milter maps written by `routectl sendmail`,
a sendmail.cf made with m4 from lab.mc.in with routectl's snippet included, a private queue
with the queue group directories, a Cyrus SASL sasldb. The daemon runs in the
foreground (-bD) on 127.0.0.1:<free port> and is stopped again by the context manager (or
lab.cleanup_all()), also on failure, with every Sendmail process still using the lab.

Requires root, m4, saslpasswd2 (sasl2-bin), libsasl2-modules. Python 3 stdlib only.
"""

import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "integration"))

import lab as postfix_lab  # noqa: E402  (Milter, wait_for, free_port, port_open, cleanup registry)
from lab import LabError, free_port, port_open, wait_for  # noqa: E402,F401 (re-export)

SENDMAIL_ROOT = os.path.abspath(os.environ.get("SENDMAIL_ROOT") or os.path.join(REPO_ROOT, "build", "sendmail-root"))
CF_DIR = os.path.join(SENDMAIL_ROOT, "usr", "share", "sendmail", "cf")
SENDMAIL_REAL = os.path.join(SENDMAIL_ROOT, "usr", "libexec", "sendmail", "sendmail")
MAKEMAP_REAL = os.path.join(SENDMAIL_ROOT, "usr", "libexec", "sendmail", "makemap")
TOOLS_DIR = os.path.join(SENDMAIL_ROOT, "lab-bin")
SENDMAIL = os.path.join(TOOLS_DIR, "sendmail")
MAKEMAP = os.path.join(TOOLS_DIR, "makemap")
M4 = shutil.which("m4") or "/usr/bin/m4"
SASLPASSWD2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
MC_TEMPLATE = os.path.join(HERE, "lab.mc.in")

LAB_HOSTNAME = "mx.lab.test"
SASL_REALM = "lab.test"
EX_CONFIG = 78


def work_base():
    """Where labs keep their files: build/, unless a directory on its path is world-writable
    (a checkout under /tmp). Sendmail refuses sockets, queues and maps below such a directory
    ("unsafe: World writable directory"), so then a private directory under /run is used."""
    build = os.path.join(REPO_ROOT, "build")
    os.makedirs(build, exist_ok=True)
    path = build
    while True:
        if os.stat(path).st_mode & 0o002:
            base = "/run/route-milter-tests"
            os.makedirs(base, mode=0o755, exist_ok=True)
            os.chmod(base, 0o755)
            return base
        parent = os.path.dirname(path)
        if parent == path:
            return build
        path = parent


def routectl_binary():
    p = os.environ.get("ROUTECTL") or os.path.join(REPO_ROOT, "build", "routectl")
    return os.path.abspath(p)


def _library_dirs():
    return sorted(set(os.path.dirname(p) for p in glob.glob(os.path.join(SENDMAIL_ROOT, "usr", "lib", "*", "*.so*"))))


WRAPPER = """#!/bin/sh
# Written by tests/sendmail/lab_sendmail.py: the privately unpacked %(name)s, for the tests only.
LD_LIBRARY_PATH='%(libs)s'${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
%(body)s
"""

SENDMAIL_BODY = """\
# Sendmail wants a fully qualified host name it can resolve, or it sleeps 60 s on every start.
# LAB_RESOLVER_HOSTS (a lab with target host names): /etc/hosts in Sendmail's own mount namespace.
if [ -n "$LAB_RESOLVER_HOSTS" ] && unshare --uts --mount true 2>/dev/null; then
    exec unshare --uts --mount /bin/sh -c \
        'mount --bind "$LAB_RESOLVER_HOSTS" /etc/hosts && hostname %(host)s && exec "$0" "$@"' %(real)s "$@"
fi
if unshare --uts true 2>/dev/null; then
    exec unshare --uts /bin/sh -c 'hostname %(host)s && exec "$0" "$@"' %(real)s "$@"
fi
exec %(real)s "$@"
"""


def install_wrappers():
    """(Re)write lab-bin/sendmail and lab-bin/makemap; returns TOOLS_DIR."""
    for path in (SENDMAIL_REAL, MAKEMAP_REAL, os.path.join(CF_DIR, "m4", "cf.m4")):
        if not os.path.exists(path):
            raise LabError("%s is missing: run tests/sendmail/run.sh (it unpacks sendmail-bin and "
                           "sendmail-cf into %s)" % (path, SENDMAIL_ROOT))
    os.makedirs(TOOLS_DIR, exist_ok=True)
    libs = ":".join(_library_dirs())
    wrappers = {
        SENDMAIL: WRAPPER % {"name": "sendmail", "libs": libs,
                             "body": SENDMAIL_BODY % {"host": LAB_HOSTNAME, "real": shlex.quote(SENDMAIL_REAL)}},
        MAKEMAP: WRAPPER % {"name": "makemap", "libs": libs, "body": 'exec %s "$@"' % shlex.quote(MAKEMAP_REAL)},
    }
    for path, text in wrappers.items():
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    return TOOLS_DIR


def tool_env(extra=None):
    """Environment in which "sendmail" and "makemap" are the lab's (for routectl)."""
    env = dict(os.environ)
    env["PATH"] = TOOLS_DIR + os.pathsep + env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra or {})
    return env


def run_routectl(*args, timeout=60):
    """routectl with the lab's sendmail/makemap first in PATH; CompletedProcess (text)."""
    return subprocess.run([routectl_binary()] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=tool_env())


def write_config(path, text, user=None):
    """A route-milter config: mode 0600 (it may hold passwords), owned by the milter's user."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if user:
        pw = pwd.getpwnam(user)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.replace(tmp, path)
    return path


def _read(path, errors="replace"):
    try:
        with open(path, "r", errors=errors) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _reply_text(msg):
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


class Transaction:
    def __init__(self):
        self.mail = None
        self.rcpts = []
        self.data = None

    @property
    def rcpt_codes(self):
        return [c for c, _ in self.rcpts]

    def __repr__(self):
        return "Transaction(mail=%r, rcpts=%r, data=%r)" % (self.mail, self.rcpts, self.data)


# Every lab still running, so an interrupted run can still clean up (see cleanup_all).
_ACTIVE = []


def cleanup_all():
    """Stop every SendmailLab still running, then every milter/Postfix of lab.py."""
    while _ACTIVE:
        with contextlib.suppress(Exception):
            _ACTIVE.pop().stop()
    postfix_lab.cleanup_all()


class SendmailLab:
    """A private Sendmail daemon configured by `routectl sendmail` from a route-milter config.

    conf: the route-milter config file (routectl reads it; the milter named in it is attached).
    catchall_port: where mail without a route goes (and bounces).  users: {user: password} in the
    private sasldb (realm lab.test).  Route targets are IP literals, or names given in hosts
    ({name: address}): Sendmail resolves target names with the system's resolver, so the lab's
    Sendmail processes run with a private /etc/hosts (mount namespace) that has them, and the
    lab's own hosts file (canonical names) too. Names must be fully qualified: Sendmail appends
    its own domain to a short one ("localhost" becomes localhost.lab.test).
    pki: a smtp_sink.TestPki; Sendmail then offers STARTTLS with its CA-signed certificate and
    checks servers' certificates against its CA (CACertFile).  queue_interval: e.g. "2s" runs the
    daemon with -q2s (periodic queue runs); None: no queue runs of its own.
    """

    def __init__(self, conf, catchall_port, users=None, port=None, start_timeout=20.0, keep=False, pki=None,
                 queue_interval=None, hosts=None):
        self.conf = conf
        self.catchall_port = catchall_port
        self.users = dict(users or {})
        self.host = "127.0.0.1"
        self.port = port
        self.start_timeout = start_timeout
        self.keep = keep or bool(os.environ.get("LAB_KEEP"))
        self.dir = None
        self.proc = None
        self.routectl_output = ""
        self.pki = pki
        self.hosts = dict(hosts or {})
        self.queue_interval = queue_interval
        self._out = None

    # ------------------------------------------------------------ paths
    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def cf(self):
        return self.path("sendmail.cf")

    @property
    def mc(self):
        return self.path("sendmail.mc")

    @property
    def maps_dir(self):
        return self.path("maps")

    @property
    def queue_dir(self):
        return self.path("queue")

    @property
    def snippet(self):
        return self.path("maps", "sendmail.mc.snippet")

    # ------------------------------------------------------------ setup
    def _write(self, rel, text, mode=0o644):
        p = self.path(rel)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def _setup(self):
        install_wrappers()
        self.dir = tempfile.mkdtemp(prefix="sendmail-lab-", dir=work_base())
        os.chmod(self.dir, 0o755)
        for sub in ("etc", "etc/sasl", "queue"):
            os.makedirs(self.path(sub), exist_ok=True)
        os.chmod(self.queue_dir, 0o700)
        if self.port is None:
            self.port = free_port(self.host)
        # Sendmail canonifies target names with this file ("hosts files"): "localhost" must stay
        # localhost (the system resolver then finds it), not become the lab's own name.
        names = "".join("%s\t%s\n" % (address, name) for name, address in sorted(self.hosts.items()))
        self._write("etc/hosts", "127.0.0.1\tlocalhost\n127.0.0.1\t%s\n" % LAB_HOSTNAME + names)
        if self.hosts:
            self._write("etc/resolver-hosts", "127.0.0.1\tlocalhost\n" + names)
        self._write("etc/service.switch", "hosts\tfiles\naliases\tfiles\n")
        self._write("etc/local-host-names", LAB_HOSTNAME + "\n")
        shutil.copy(os.path.join(SENDMAIL_ROOT, "etc", "mail", "helpfile"), self.path("etc", "helpfile"))
        self._write("etc/sasl/Sendmail.conf", "pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    "mech_list: PLAIN LOGIN\nsasldb_path: %s\n" % self.path("etc", "sasl", "sasldb2"))
        for user, password in (self.users or {"nobody-placeholder": os.urandom(8).hex()}).items():
            r = subprocess.run([SASLPASSWD2, "-p", "-c", "-f", self.path("etc", "sasl", "sasldb2"),
                                "-u", SASL_REALM, user], input=(password + "\n").encode(), capture_output=True)
            if r.returncode != 0:
                raise LabError("saslpasswd2 failed: %s" % r.stderr.decode(errors="replace"))
        os.chmod(self.path("etc", "sasl", "sasldb2"), 0o600)

        # 1. routectl sendmail writes the maps and the snippet (queue groups below our queue).
        self.generate(makemap=False)
        # 2. The queue group directories it asks for.
        for d in re.findall(r"P=([^,]+),", _read(self.snippet)):
            os.makedirs(d, mode=0o700, exist_ok=True)
        # 3. sendmail.cf from the lab's .mc with the snippet included.
        self.build_cf()
        # 4. The maps compiled with makemap, against that sendmail.cf.
        self.generate(makemap=True)

    def prepare(self):
        """Build the lab's files (maps, sendmail.cf) without starting the daemon: for -bt."""
        _ACTIVE.append(self)
        self._setup()
        return self

    def generate(self, makemap=True, conf=None, out=None):
        """Run routectl sendmail for this lab; raises on failure."""
        args = ["sendmail", "-c", conf or self.conf, "-o", out or self.maps_dir, "--queue-dir", self.queue_dir]
        if makemap:
            args += ["--makemap", "--sendmail-config", self.cf]
        r = run_routectl(*args)
        self.routectl_output += r.stdout + r.stderr
        if r.returncode != 0:
            raise LabError("routectl %s failed (exit %d):\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def tls_mc_lines(self):
        """The sendmail.mc lines for STARTTLS with the lab's PKI (none without one)."""
        if self.pki is None:
            return ""
        # Sendmail offers STARTTLS only when CACertPath exists too: a directory with the test CA
        # alone (never the self-signed certificate, which must stay untrusted).
        ca_dir = self.path("etc", "cacerts")
        os.makedirs(ca_dir, exist_ok=True)
        shutil.copy(self.pki.ca_cert, os.path.join(ca_dir, "ca.crt"))
        return "".join("define(`%s', `%s')dnl\n" % kv for kv in (
            ("confCACERT_PATH", ca_dir), ("confCACERT", self.pki.ca_cert),
            ("confSERVER_CERT", self.pki.cert), ("confSERVER_KEY", self.pki.key),
            ("confCLIENT_CERT", self.pki.cert), ("confCLIENT_KEY", self.pki.key)))

    def build_cf(self):
        with open(MC_TEMPLATE) as f:
            mc = f.read()
        for key, value in (("@CFDIR@", CF_DIR), ("@LAB@", self.dir), ("@PORT@", str(self.port)),
                           ("@TLS@", self.tls_mc_lines()),
                           ("@CATCHALL_PORT@", str(self.catchall_port)), ("@SNIPPET@", self.snippet)):
            mc = mc.replace(key, value)
        self._write("sendmail.mc", mc)
        r = subprocess.run([M4, self.mc], capture_output=True, text=True)
        if r.returncode != 0 or r.stderr.strip():
            raise LabError("m4 %s failed (exit %d):\n%s" % (self.mc, r.returncode, r.stderr))
        self._write("sendmail.cf", r.stdout)
        return r

    # ------------------------------------------------------------ tools
    def env(self):
        """The environment of the lab's Sendmail processes (the resolver's hosts file, if any)."""
        return tool_env({"LAB_RESOLVER_HOSTS": self.path("etc", "resolver-hosts")} if self.hosts else None)

    def sendmail(self, *args, input=None, timeout=60):
        """The lab's sendmail with -C sendmail.cf; CompletedProcess (text)."""
        return subprocess.run([SENDMAIL, "-C", self.cf] + [str(a) for a in args], input=input,
                              capture_output=True, text=True, timeout=timeout, env=self.env(),
                              stdin=None if input is not None else subprocess.DEVNULL)

    def bt(self, *lines):
        """sendmail -bt (address test mode) fed the given lines; its output."""
        r = self.sendmail("-bt", input="".join(l + "\n" for l in lines))
        return r.stdout + r.stderr

    def parse(self, address):
        """(mailer, host, user) Sendmail resolves address to (-bt /parse)."""
        out = self.bt("/parse " + address)
        m = re.search(r"^mailer (\S+), host (\S+), user (\S+)", out, re.M)
        if not m:
            raise LabError("no mailer for %s in -bt output:\n%s" % (address, out))
        return m.group(1), m.group(2), m.group(3)

    def ruleset(self, name, address, macros=None):
        """What ruleset name returns for address (-bt), with {macro: value} defined first."""
        lines = [".D{%s}%s" % (k, v) for k, v in (macros or {}).items()] + ["%s %s" % (name, address)]
        out = self.bt(*lines)
        found = re.findall(r"^%s\s+returns: ?(.*)$" % re.escape(name), out, re.M)
        if not found:
            raise LabError("ruleset %s did not return for %s:\n%s" % (name, address, out))
        return found[-1].strip()

    def mailq(self):
        r = self.sendmail("-bp")
        return r.stdout + r.stderr

    def queue_files(self, group=None):
        """{queue id: path of its qf file} in the main queue or a queue group's directory."""
        d = self.queue_dir if group is None else os.path.join(self.queue_dir, group)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return {}
        return {n[2:]: os.path.join(d, n) for n in names if n.startswith("qf")}

    def all_queue_files(self):
        found = {}
        for d, _, names in os.walk(self.queue_dir):
            found.update({n[2:]: os.path.join(d, n) for n in names if n.startswith("qf")})
        return found

    def qf_field(self, qid, code, group=None):
        """First value of a qf line ('N', 'T', 'M', ...) or None (also when the file is gone)."""
        path = self.queue_files(group).get(qid)
        for line in _read(path, errors="surrogateescape").splitlines() if path else []:
            if line.startswith(code):
                return line[len(code):]
        return None

    # ------------------------------------------------------------ lifecycle
    def start(self):
        _ACTIVE.append(self)
        try:
            self._setup()
            self._out = open(self.path("sendmail.out"), "wb")
            queue_runs = ["-q" + self.queue_interval] if self.queue_interval else []
            self.proc = subprocess.Popen([SENDMAIL, "-C", self.cf, "-bD"] + queue_runs, stdin=subprocess.DEVNULL, env=self.env(),
                                         stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)

            def ready():
                if self.proc.poll() is not None:
                    raise LabError("sendmail -bD exited with %s:\n%s" % (self.proc.returncode,
                                                                       _read(self.path("sendmail.out"))))
                return port_open(self.host, self.port)

            wait_for(ready, self.start_timeout, what="sendmail on %s:%d" % (self.host, self.port))
        except BaseException:
            self.stop()
            raise
        return self

    def _lab_processes(self):
        """Pids of Sendmail processes still working in this lab (the daemon's children, queue
        runners started by -qI): the unpacked sendmail binary, running in the lab's directory
        or with its sendmail.cf (Sendmail rewrites its command line, so look at both)."""
        pids = []
        if not self.dir:
            return pids
        real = os.path.realpath(SENDMAIL_REAL)
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                if os.path.realpath("/proc/%s/exe" % entry) != real:
                    continue
                cwd = os.path.realpath("/proc/%s/cwd" % entry)
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if cwd == self.dir or cwd.startswith(self.dir + os.sep) or self.cf.encode() in cmdline:
                pids.append(int(entry))
        return pids

    def stop(self):
        try:
            if self.proc is not None:
                if self.proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.proc.pid, signal.SIGTERM)
                    try:
                        self.proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.killpg(self.proc.pid, signal.SIGKILL)
                        self.proc.wait(timeout=5)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc = None
            for pid in self._lab_processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            if self._out is not None:
                self._out.close()
                self._out = None
            if self.dir and not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
            with contextlib.suppress(ValueError):
                _ACTIVE.remove(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ------------------------------------------------------------ SMTP
    def session(self, auth=None, source=None, helo="client.example.net", timeout=30, starttls=False):
        """smtplib.SMTP connected and EHLO done; auth=(user, password); source: client address;
        starttls: STARTTLS first (Sendmail's certificate checked against the lab's CA)."""
        s = smtplib.SMTP(self.host, self.port, local_hostname=helo, timeout=timeout,
                         source_address=(source, 0) if source else None)
        try:
            s.ehlo()
            if starttls:
                s.starttls(context=ssl.create_default_context(cafile=self.pki.ca_cert))
                s.ehlo()
            if auth is not None:
                s.login(auth[0], auth[1])
        except BaseException:
            with contextlib.suppress(Exception):
                s.close()
            raise
        return s

    @staticmethod
    def _cmd(s, line):
        try:
            code, msg = s.docmd(line)
        except smtplib.SMTPServerDisconnected as e:
            return (-1, "disconnected: %s" % e)
        return (code, _reply_text(msg))

    def transaction(self, sender, recipients, auth=None, data=False, source=None,
                    body="Subject: route-milter sendmail lab test\r\n\r\nhello\r\n", starttls=False):
        """MAIL FROM, one RCPT TO each, DATA when asked and something was accepted; never raises
        on SMTP replies. Returns a Transaction (.mail, .rcpts, .data, .queue_id)."""
        s = self.session(auth=auth, source=source, starttls=starttls)
        try:
            t = Transaction()
            t.queue_id = None
            t.mail = self._cmd(s, "MAIL FROM:<%s>" % sender)
            for rcpt in recipients:
                t.rcpts.append(self._cmd(s, "RCPT TO:<%s>" % rcpt))
            if data and any(200 <= c < 300 for c in t.rcpt_codes) and 200 <= t.mail[0] < 300:
                code, msg = s.docmd("DATA")
                if code == 354:
                    payload = body.replace("\r\n", "\n").replace("\n", "\r\n")
                    payload = "\r\n".join(("." + l) if l.startswith(".") else l for l in payload.split("\r\n"))
                    if not payload.endswith("\r\n"):
                        payload += "\r\n"
                    s.send((payload + ".\r\n").encode())
                    code, msg = s.getreply()
                t.data = (code, _reply_text(msg))
                m = re.search(r"\b([0-9A-Za-z]{14}) Message accepted", t.data[1])
                t.queue_id = m.group(1) if m else None
            else:
                self._cmd(s, "RSET")
            return t
        finally:
            with contextlib.suppress(Exception):
                s.quit()
            with contextlib.suppress(Exception):
                s.close()

