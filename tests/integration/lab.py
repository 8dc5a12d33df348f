"""Private, throw-away Postfix instance ("lab") for route-milter integration tests.

Everything lives in one temporary directory: config_directory (main.cf,
master.cf), queue_directory, data_directory, a private Cyrus SASL config and
sasldb, Postfix's maillog file, and the milter's config/socket/log.  Postfix
listens on 127.0.0.1:<free port> only and discards all mail (nothing leaves
the machine).  Every process started here is stopped again by the context
managers, also on failure.

Requires root (Postfix master must start as root), Debian's postfix,
sasl2-bin and libsasl2-modules packages.  Python 3 stdlib only.
"""

import atexit
import contextlib
import os
import pwd
import grp
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"
SASLPASSWD2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"

LAB_DOMAIN = "lab.test"
LAB_HOSTNAME = "mx.lab.test"
SASL_REALM = LAB_DOMAIN


class LabError(RuntimeError):
    pass


# Everything started and not yet stopped, so an interrupted run can still clean up.
_ACTIVE = []


def cleanup_all():
    """Stop every Milter/PostfixLab still running (newest first).

    Milters get SIGTERM all at once first: libmilter may need a few seconds
    to notice, and there is no reason to wait for them one by one.
    """
    for obj in list(_ACTIVE):
        if isinstance(obj, Milter):
            with contextlib.suppress(Exception):
                obj.terminate()
    while _ACTIVE:
        obj = _ACTIVE.pop()
        with contextlib.suppress(Exception):
            obj.stop()


atexit.register(cleanup_all)


def _track(obj):
    if obj not in _ACTIVE:
        _ACTIVE.append(obj)


def _untrack(obj):
    with contextlib.suppress(ValueError):
        _ACTIVE.remove(obj)


def free_port(host="127.0.0.1"):
    """Return a TCP port that was free a moment ago on host."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host, port, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unix_socket_accepts(path, timeout=0.2):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            raise LabError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still "exists"; treat zombies as dead.
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def _kill_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _read(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _reply_text(msg):
    if isinstance(msg, bytes):
        return msg.decode("utf-8", "replace")
    return str(msg)


MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixLab:
    """A private Postfix instance.  Use as a context manager.

    milter: value for smtpd_milters (e.g. "unix:/path/sock",
    "inet:127.0.0.1:PORT"); may be empty.  users: {user: password} created in
    the private sasldb (realm lab.test; AUTH as "alice" or "alice@lab.test").
    """

    def __init__(self, milter="", users=None, extra_main=None, port=None,
                 start_timeout=30.0, keep=False):
        self.milter = milter
        self.users = dict(users or {})
        self.extra_main = dict(extra_main or {})
        self.port = port
        self.start_timeout = start_timeout
        self.keep = keep or bool(os.environ.get("LAB_KEEP"))
        self.host = "127.0.0.1"
        self.dir = None
        self.proc = None
        self._fg_log = None

    # ------------------------------------------------------------ paths
    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def config_dir(self):
        return self.path("etc")

    @property
    def queue_dir(self):
        return self.path("spool")

    @property
    def data_dir(self):
        return self.path("data")

    @property
    def maillog(self):
        return self.path("log", "maillog")

    @property
    def sasl_dir(self):
        # Debian's postfix (patch 07_sasl_config) looks for smtpd.conf in
        # $config_directory/sasl regardless of cyrus_sasl_config_path; we set
        # both to the same directory.
        return self.path("etc", "sasl")

    @property
    def sasldb(self):
        return self.path("etc", "sasl", "sasldb2")

    # ------------------------------------------------------------ setup
    def _main_cf(self):
        d = self.dir
        cf = {
            "compatibility_level": "3.6",
            "config_directory": self.config_dir,
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": LAB_HOSTNAME,
            "mydomain": LAB_DOMAIN,
            "myorigin": "$myhostname",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "smtpd_peername_lookup": "no",
            "smtp_host_lookup": "native",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "relay_domains": "",
            "default_transport": "discard:lab",
            "relay_transport": "discard:lab",
            "local_transport": "discard:lab",
            "virtual_transport": "discard:lab",
            # Postfix refuses a bare "permit" here (it insists on a
            # reject_unauth_destination-style safety net).  All lab clients are
            # 127.0.0.1 = mynetworks, so this permits everything: the milter decides.
            "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
            "smtpd_recipient_restrictions": "permit",
            "smtpd_client_restrictions": "",
            "smtpd_helo_restrictions": "",
            "smtpd_sender_restrictions": "",
            "smtpd_tls_security_level": "none",
            "smtp_tls_security_level": "none",
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_type": "cyrus",
            "smtpd_sasl_path": "smtpd",
            "cyrus_sasl_config_path": self.sasl_dir,
            "smtpd_sasl_local_domain": SASL_REALM,
            "smtpd_sasl_security_options": "noanonymous",
            "smtpd_sasl_authenticated_header": "no",
            "broken_sasl_auth_clients": "no",
            "smtpd_milters": self.milter,
            "non_smtpd_milters": "",
            "milter_protocol": "6",
            "milter_default_action": "tempfail",
            "milter_connect_timeout": "5s",
            "milter_command_timeout": "10s",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": d,
            "postlog_service_name": "postlog",
            "smtpd_error_sleep_time": "0",
            "smtpd_soft_error_limit": "1000",
            "smtpd_hard_error_limit": "1000",
            "smtpd_client_connection_rate_limit": "0",
            "smtpd_client_connection_count_limit": "0",
            "anvil_rate_time_unit": "60s",
            "biff": "no",
            "notify_classes": "",
            "empty_address_recipient": "MAILER-DAEMON",
            "queue_run_delay": "300s",
            # Tests abort many transactions after an accepted RCPT (RSET): without this,
            # cleanup's flow control runs out of tokens and waits 1 s per new queue file.
            "in_flow_delay": "0s",
            "smtputf8_enable": "no",
            "default_process_limit": "50",
            "readme_directory": "no",
            "html_directory": "no",
        }
        cf.update(self.extra_main)
        return "".join("%s = %s\n" % (k, v) for k, v in cf.items())

    def _write_sasl(self):
        os.makedirs(self.sasl_dir)
        with open(os.path.join(self.sasl_dir, "smtpd.conf"), "w") as f:
            f.write("pwcheck_method: auxprop\n"
                    "auxprop_plugin: sasldb\n"
                    "mech_list: PLAIN LOGIN\n"
                    "sasldb_path: %s\n" % self.sasldb)
        for user, password in self.users.items():
            self.add_user(user, password)
        if not self.users:
            # Create an empty (but valid) sasldb so the plugin can open it.
            self.add_user("nobody-placeholder", os.urandom(8).hex())
        self._fix_sasl_perms()

    def add_user(self, user, password):
        """Create/replace a SASL user in realm lab.test."""
        r = subprocess.run([SASLPASSWD2, "-p", "-c", "-f", self.sasldb, "-u", SASL_REALM, user],
                           input=(password + "\n").encode(), capture_output=True)
        if r.returncode != 0:
            raise LabError("saslpasswd2 failed: %s" % r.stderr.decode(errors="replace"))
        self.users[user] = password
        if self.proc is not None:
            self._fix_sasl_perms()

    def _fix_sasl_perms(self):
        gid = grp.getgrnam("postfix").gr_gid
        os.chmod(self.sasl_dir, 0o755)
        for name in os.listdir(self.sasl_dir):
            p = os.path.join(self.sasl_dir, name)
            os.chown(p, 0, gid)
            os.chmod(p, 0o640)

    def _setup(self):
        self.dir = tempfile.mkdtemp(prefix="postfix-lab-")
        # Postfix daemons run as user postfix: the tree must be traversable.
        os.chmod(self.dir, 0o755)
        for sub in ("etc", "spool", "log", "milter"):
            os.makedirs(self.path(sub))
            os.chmod(self.path(sub), 0o755)
        pw = pwd.getpwnam("postfix")
        os.makedirs(self.data_dir)
        os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.data_dir, 0o700)
        if self.port is None:
            self.port = free_port(self.host)
        with open(self.path("etc", "main.cf"), "w") as f:
            f.write(self._main_cf())
        with open(self.path("etc", "master.cf"), "w") as f:
            f.write(MASTER_CF.replace("smtp      inet", "%s:%d inet" % (self.host, self.port), 1))
        # Debian's postfix wants these for "postfix check"; keep them empty/harmless.
        open(self.path("etc", "dynamicmaps.cf"), "w").close()
        self._write_sasl()

    def postconf(self, *args):
        r = subprocess.run([POSTCONF, "-c", self.config_dir] + list(args),
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise LabError("postconf %s failed: %s" % (args, r.stderr))
        return r.stdout

    def set_milter(self, milter):
        """Change smtpd_milters and make Postfix pick it up (postfix reload)."""
        self.milter = milter
        self.postconf("-e", "smtpd_milters=%s" % milter)
        self.reload()

    def reload(self):
        r = subprocess.run([POSTFIX, "-c", self.config_dir, "reload"], capture_output=True, text=True)
        if r.returncode != 0:
            raise LabError("postfix reload failed: %s%s" % (r.stdout, r.stderr))
        # Old smtpd processes finish their sessions; new connections get new config.
        time.sleep(0.5)

    # ------------------------------------------------------------ lifecycle
    def master_pid(self):
        txt = _read(self.path("spool", "pid", "master.pid")).strip()
        try:
            return int(txt)
        except ValueError:
            return None

    def start(self):
        _track(self)
        self._setup()
        try:
            self._fg_log = open(self.path("log", "start-fg.out"), "wb")
            env = dict(os.environ, MAIL_CONFIG=self.config_dir)
            self.proc = subprocess.Popen([POSTFIX, "-c", self.config_dir, "start-fg"],
                                         stdin=subprocess.DEVNULL, stdout=self._fg_log,
                                         stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)

            def ready():
                if self.proc.poll() is not None:
                    raise LabError("postfix start-fg exited with %s:\n%s\n%s" % (
                        self.proc.returncode, _read(self.path("log", "start-fg.out")),
                        self.log_text()))
                return port_open(self.host, self.port)

            wait_for(ready, self.start_timeout, what="postfix smtpd on %s:%d" % (self.host, self.port))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        try:
            if self.proc is not None:
                if self.proc.poll() is None:
                    subprocess.run([POSTFIX, "-c", self.config_dir, "stop"],
                                   capture_output=True, timeout=30)
                    try:
                        self.proc.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        pass
                # Whatever is left in the process group (master, daemons): kill it.
                _kill_group(self.proc, signal.SIGTERM)
                if self.proc.poll() is None:
                    try:
                        self.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        _kill_group(self.proc, signal.SIGKILL)
                        self.proc.wait(timeout=5)
                _kill_group(self.proc, signal.SIGKILL)
                pid = self.master_pid()
                if pid is not None and _pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
                    wait_for(lambda: not _pid_alive(pid), 5, what="postfix master to exit")
                self.proc = None
        finally:
            if self._fg_log is not None:
                self._fg_log.close()
                self._fg_log = None
            if self.dir and not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
            _untrack(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ------------------------------------------------------------ SMTP helpers
    def log_text(self):
        return _read(self.maillog)

    def log_offset(self):
        """An offset into log_text() (characters: the log holds UTF-8)."""
        return len(self.log_text())

    def log_since(self, offset):
        return self.log_text()[offset:] if offset else self.log_text()

    def session(self, auth=None, helo="client.example.net", timeout=30):
        """An smtplib.SMTP connected (EHLO done); auth=(user, password) logs in."""
        s = smtplib.SMTP(self.host, self.port, local_hostname=helo, timeout=timeout)
        try:
            s.ehlo()
            if auth is not None:
                s.login(auth[0], auth[1])
        except BaseException:
            with contextlib.suppress(Exception):
                s.close()
            raise
        return s

    def transaction(self, sender, recipients, auth=None, data=False, smtp=None,
                    body="Subject: route-milter lab test\r\n\r\nhello\r\n"):
        """Run MAIL FROM + one RCPT TO per recipient, never raising on SMTP replies.

        Returns a Transaction with .mail (code, text), .rcpts [(code, text)],
        .data (code, text) or None, .rcpt_codes.  If data is true and at least one
        recipient was accepted, DATA is sent; otherwise RSET.  smtp: reuse an
        existing session (it is left open); else a fresh one is opened and closed.
        """
        own = smtp is None
        s = self.session(auth=auth) if own else smtp
        try:
            t = Transaction()
            t.mail = self._cmd(s, "MAIL FROM:<%s>" % sender)
            for rcpt in recipients:
                t.rcpts.append(self._cmd(s, "RCPT TO:<%s>" % rcpt))
            accepted = [r for r in t.rcpts if 200 <= r[0] < 300]
            if data and accepted and 200 <= t.mail[0] < 300:
                code, msg = s.docmd("DATA")
                if code == 354:
                    payload = body.replace("\r\n", "\n").replace("\n", "\r\n")
                    if not payload.endswith("\r\n"):
                        payload += "\r\n"
                    # dot-stuffing
                    payload = "\r\n".join(("." + l) if l.startswith(".") else l
                                          for l in payload.split("\r\n"))
                    s.send((payload + ".\r\n").encode())
                    code, msg = s.getreply()
                t.data = (code, _reply_text(msg))
            else:
                t.rset = self._cmd(s, "RSET")
            return t
        finally:
            if own:
                with contextlib.suppress(Exception):
                    s.quit()
                with contextlib.suppress(Exception):
                    s.close()

    @staticmethod
    def _cmd(s, line):
        try:
            code, msg = s.docmd(line)
        except smtplib.SMTPServerDisconnected as e:
            return (-1, "disconnected: %s" % e)
        return (code, _reply_text(msg))

    def rcpt_replies(self, sender, recipients, auth=None, data=False):
        """List of (code, message) for each RCPT TO."""
        return self.transaction(sender, recipients, auth=auth, data=data).rcpts


class Transaction:
    def __init__(self):
        self.mail = None
        self.rcpts = []
        self.data = None
        self.rset = None

    @property
    def rcpt_codes(self):
        return [c for c, _ in self.rcpts]

    def __repr__(self):
        return "Transaction(mail=%r, rcpts=%r, data=%r)" % (self.mail, self.rcpts, self.data)


def milter_binary():
    p = os.environ.get("ROUTE_MILTER") or os.path.join(REPO_ROOT, "build", "route-milter")
    return os.path.abspath(p)


class Milter:
    """Runs the route-milter binary in the foreground (own process group).

    socket: "unix:/path" or "inet:PORT@127.0.0.1"; postfix_socket gives the
    matching smtpd_milters value.  The config file is written by the caller
    (write_config) with mode 0600, owned by user (the config's milter.user).

    route-milter creates its unix socket mode 0660, owned by milter.user (or
    by root if none).  Postfix's smtpd runs as "postfix", so for unix sockets
    the tests use milter.user = "postfix" (like a real deployment must make
    the socket reachable for postfix).
    """

    def __init__(self, workdir, config_text=None, socket_spec=None, binary=None,
                 name="milter", extra_args=None, start_timeout=15.0, user=None):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.binary = binary or milter_binary()
        self.name = name
        self.conf = os.path.join(workdir, name + ".conf")
        self.logfile = os.path.join(workdir, name + ".log")
        if socket_spec is None:
            socket_spec = "unix:" + os.path.join(workdir, name + ".sock")
        self.socket_spec = socket_spec
        self.extra_args = list(extra_args or [])
        # The config's milter.user, if any: route-milter drops to it after opening the
        # socket, so the config file must stay readable by it for SIGHUP reloads.
        self.user = user
        self.start_timeout = start_timeout
        self.proc = None
        self._log_fh = None
        if config_text is not None:
            self.write_config(config_text)

    @property
    def postfix_socket(self):
        """The smtpd_milters value for this milter."""
        spec = self.socket_spec
        if spec.startswith(("unix:", "local:")):
            return "unix:" + spec.split(":", 1)[1]
        if spec.startswith(("inet:", "inet6:")):
            rest = spec.split(":", 1)[1]
            if "@" in rest:
                port, host = rest.split("@", 1)
            else:
                port, host = rest, "127.0.0.1"
            return "inet:%s:%s" % (host, port)
        return spec

    def write_config(self, text):
        tmp = self.conf + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
        os.replace(tmp, self.conf)

    def image_path(self):
        """The policy image, in a state directory of the user the daemon runs as (a reload
        compiles it there again as that user), as systemd's StateDirectory= is."""
        state = os.path.join(self.workdir, self.name + ".state")
        os.makedirs(state, mode=0o700, exist_ok=True)
        args = self.extra_args
        runs_as = args[args.index("-u") + 1] if "-u" in args[:-1] else self.user
        if runs_as:
            pw = pwd.getpwnam(runs_as)
            os.chown(state, pw.pw_uid, pw.pw_gid)
        return os.path.join(state, "route-milter.image")

    def _ready(self):
        spec = self.socket_spec
        if spec.startswith(("unix:", "local:")):
            return unix_socket_accepts(spec.split(":", 1)[1])
        if spec.startswith(("inet:", "inet6:")):
            rest = spec.split(":", 1)[1]
            port, _, host = rest.partition("@")
            loopback = "::1" if spec.startswith("inet6:") else "127.0.0.1"
            return port_open(host.strip("[]") or loopback, int(port))
        raise LabError("unsupported socket spec %r" % spec)

    def start(self):
        if not os.path.isfile(self.binary) or not os.access(self.binary, os.X_OK):
            raise LabError("route-milter binary not found or not executable: %s "
                           "(set ROUTE_MILTER or run make)" % self.binary)
        if self.socket_spec.startswith("unix:"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_spec.split(":", 1)[1])
        _track(self)
        self._log_fh = open(self.logfile, "ab")
        # umask 011: the socket the milter creates must be connectable by the
        # unprivileged postfix smtpd processes.
        self.proc = subprocess.Popen(
            [self.binary, "-c", self.conf, "-p", self.socket_spec, "-l", "stderr"] +
            ([] if "-i" in self.extra_args else ["-i", self.image_path()]) + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=self._log_fh, stderr=self._log_fh,
            start_new_session=True, preexec_fn=lambda: os.umask(0o011))
        try:
            def ready():
                if self.proc.poll() is not None:
                    raise LabError("route-milter exited with %s during startup:\n%s" % (
                        self.proc.returncode, self.log_text()))
                return self._ready()
            wait_for(ready, self.start_timeout, what="route-milter socket %s" % self.socket_spec)
        except BaseException:
            self.stop()
            raise
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def reload(self):
        if not self.running():
            raise LabError("milter not running")
        os.kill(self.proc.pid, signal.SIGHUP)

    def terminate(self):
        """Send SIGTERM without waiting (stop() later reaps it)."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)

    def stop(self, timeout=10.0):
        """SIGTERM, wait, SIGKILL after timeout.  Returns the exit status (or None)."""
        rc = None
        try:
            if self.proc is not None:
                if self.proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.proc.pid, signal.SIGTERM)
                    try:
                        self.proc.wait(timeout=timeout)
                    except subprocess.TimeoutExpired:
                        _kill_group(self.proc, signal.SIGKILL)
                        self.proc.wait(timeout=5)
                rc = self.proc.returncode
                _kill_group(self.proc, signal.SIGKILL)  # stray children, if any
        finally:
            if self._log_fh is not None:
                self._log_fh.close()
                self._log_fh = None
            _untrack(self)
        return rc

    def log_text(self):
        return _read(self.logfile)

    def log_offset(self):
        """An offset into log_text() (characters: the log holds UTF-8)."""
        return len(self.log_text())

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
