"""A small loopback SMTP server for the MTA tests (Sendmail and Postfix): records every message it receives.

SmtpSink(users={"relay": "secret"}) offers AUTH PLAIN and LOGIN and records the credentials a
client used (any credentials are checked against users; wrong ones get 535).  With
require_auth=True, MAIL without AUTH gets 530.  Nothing is delivered anywhere: messages are kept
in memory (sink.messages) for the test to inspect.

TLS: SmtpSink(tls="starttls", certfile=..., keyfile=...) advertises STARTTLS in EHLO (until TLS
is on) and upgrades the connection; tls="implicit" speaks TLS from the first byte (SMTPS, as on
port 465); tls=None (the default) never offers STARTTLS.  AUTH is offered before and after TLS
(a client that authenticates in clear shows up), unless auth_tls_only=True.  What happened is
recorded: message.tls / .tls_version / .cipher for each message, message.auth_tls (None: no
AUTH, else whether AUTH was done over TLS), and sink.sessions: one SinkSession per connection
with its events in order ("connect", "ehlo", "starttls", "tls", "auth PLAIN relay", "auth
failed", "mail", "data", "quit", "tls-error ..."), so a test can prove "AUTH only after TLS".

make_test_pki(directory) makes throw-away certificates with the openssl command: a test CA, a
server certificate for localhost (SAN DNS:localhost, IP:127.0.0.1) signed by it, and a separate
self-signed one.  Python 3 stdlib (+ the openssl command for make_test_pki) only.
"""

import base64
import collections
import os
import socketserver
import ssl
import subprocess
import threading
import time

# What make_test_pki returns: paths of PEM files.  cert/key: signed by the test CA (ca_cert);
# selfsigned_cert/selfsigned_key: the same names, signed by nobody.
TestPki = collections.namedtuple("TestPki", "directory ca_cert ca_key cert key selfsigned_cert selfsigned_key")


def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed (exit %d): %s" % (" ".join(args), r.returncode, r.stderr.strip()))


def make_test_pki(directory, names=("localhost",), addresses=("127.0.0.1",), days=2):
    """A throw-away PKI in directory (created if needed): a test CA, a server certificate for
    names/addresses (subjectAltName DNS:/IP:, CN the first name) signed by the CA, and a
    self-signed certificate for the same names. Keys are unencrypted, mode 0600. Returns TestPki."""
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    cn = names[0] if names else addresses[0]
    san = ",".join(["DNS:%s" % n for n in names] + ["IP:%s" % a for a in addresses])
    key = ("-newkey", "rsa:2048", "-nodes")
    # The CA: a v3 CA certificate (Sendmail/OpenSSL 3 refuse a CA without basicConstraints).
    _openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", str(days),
             "-subj", "/O=route-milter tests/CN=route-milter test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    # The server certificate, signed by the CA.
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n" % san)
    _openssl("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/O=route-milter tests/CN=" + cn,
             cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", str(days), "-extfile", "server.ext", cwd=directory)
    # The self-signed one: same names, no CA vouches for it.
    _openssl("req", "-x509", *key, "-keyout", "selfsigned.key", "-out", "selfsigned.crt", "-days", str(days),
             "-subj", "/O=route-milter tests (self-signed)/CN=" + cn,
             "-addext", "subjectAltName=" + san, "-addext", "extendedKeyUsage=serverAuth", cwd=directory)
    for name in ("ca.key", "server.key", "selfsigned.key"):
        os.chmod(os.path.join(directory, name), 0o600)
    for name in ("server.csr", "server.ext", "ca.srl"):
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass
    p = lambda name: os.path.join(directory, name)  # noqa: E731
    return TestPki(directory, p("ca.crt"), p("ca.key"), p("server.crt"), p("server.key"),
                   p("selfsigned.crt"), p("selfsigned.key"))


class SinkSession:
    """One connection: client address, whether it ended up in TLS, and its events in order."""

    def __init__(self, peer):
        self.peer = peer
        self.tls = False
        self.auth_offered_in_clear = False   # an EHLO reply before TLS listed AUTH
        self.events = []

    @property
    def auth_before_tls(self):
        """True when an AUTH command came while the connection was still in clear."""
        return any(e.startswith("auth") for e in self.events[:self._tls_index()])

    def _tls_index(self):
        return self.events.index("tls") if "tls" in self.events else len(self.events)

    def __repr__(self):
        return "SinkSession(%s, tls=%r, events=%r)" % (self.peer, self.tls, self.events)


class SinkMessage:
    def __init__(self, helo, auth, sender, recipients, data, tls=None, auth_tls=None):
        self.helo = helo
        self.auth = auth              # (mechanism, authcid, password, authzid) or None
        self.sender = sender
        self.recipients = recipients
        self.data = data              # bytes, dot-unstuffed, CRLF line ends
        self.tls = tls is not None    # the message came over TLS
        self.tls_version, self.cipher = tls or (None, None)   # e.g. "TLSv1.3", "TLS_AES_256_GCM_SHA384"
        self.auth_tls = auth_tls      # None: no AUTH; True/False: AUTH was done over TLS / in clear

    @property
    def text(self):
        return self.data.decode("utf-8", "replace")

    def __repr__(self):
        return "SinkMessage(from=%r, to=%r, auth=%r, tls=%r)" % (self.sender, self.recipients,
                                                                 self.auth[1] if self.auth else None, self.tls_version)


def _address(arg):
    """The address inside <...> of a MAIL FROM:/RCPT TO: argument (lower-cased)."""
    start, end = arg.find("<"), arg.find(">")
    if start < 0 or end < start:
        return arg.strip().lower()
    return arg[start + 1:end].lower()


class _Handler(socketserver.StreamRequestHandler):
    timeout = 60

    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(65536)
        if not line:
            raise EOFError()
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def start_tls(self):
        """Wrap the connection in TLS (server side; the buffered files are made anew) and record
        it; False (and a "tls-error" event) when the handshake fails."""
        for f in (self.rfile, self.wfile):
            f.close()
        try:
            self.connection = self.server.sink._tls_context.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.event("tls-error %s" % e)
            return False
        self.rfile = self.connection.makefile("rb")
        self.wfile = self.connection.makefile("wb")
        self.session.tls = True
        self.event("tls")
        return True

    def finish(self):
        try:
            super().finish()
        finally:
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.close()   # the server closes only the plain socket it accepted

    def event(self, text):
        with self.server.sink._lock:
            self.session.events.append(text)

    def tls_state(self):
        """(version, cipher) when the connection is in TLS, else None."""
        if not isinstance(self.connection, ssl.SSLSocket):
            return None
        return (self.connection.version(), self.connection.cipher()[0])

    def handle(self):
        sink = self.server.sink
        self.session = SinkSession(self.client_address[0])
        with sink._lock:
            sink._connections += 1
            sink.sessions.append(self.session)
        self.event("connect")
        helo, auth, auth_tls, sender, rcpts = "", None, None, None, []
        try:
            if sink.tls == "implicit" and not self.start_tls():
                return
            self.reply("220 %s ESMTP route-milter test sink" % sink.name)
            while True:
                line = self.readline()
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                in_tls = self.tls_state() is not None
                if verb in ("EHLO", "HELO"):
                    helo = arg
                    sender, rcpts = None, []
                    self.event(verb.lower())
                    if verb == "HELO":
                        self.reply("250 %s" % sink.name)
                        continue
                    # SMTPUTF8: the Postfix tests deliver to IDN domains through a sink (reads UTF-8)
                    lines = [sink.name, "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"]
                    if sink.tls == "starttls" and not in_tls:
                        lines.append("STARTTLS")
                    if sink.users is not None and (in_tls or not sink.auth_tls_only):
                        lines.append("AUTH PLAIN LOGIN")
                        self.session.auth_offered_in_clear |= not in_tls
                    for i, l in enumerate(lines):
                        self.reply("250%s%s" % (" " if i == len(lines) - 1 else "-", l))
                elif verb == "STARTTLS" and sink.tls == "starttls" and not in_tls:
                    self.event("starttls")
                    self.reply("220 2.0.0 Ready to start TLS")
                    if not self.start_tls():
                        return
                    # RFC 3207: forget everything the client said in clear
                    helo, auth, auth_tls, sender, rcpts = "", None, None, None, []
                elif verb == "AUTH" and sink.users is not None and (in_tls or not sink.auth_tls_only):
                    done = self.authenticate(arg)
                    if done:
                        auth, auth_tls = done, in_tls
                        self.event("auth %s %s" % (done[0], done[1]))
                    else:
                        self.event("auth failed")
                elif verb == "MAIL":
                    self.event("mail")
                    if sink.require_auth and auth is None:
                        self.reply("530 5.7.0 Authentication required")
                        continue
                    sender, rcpts = _address(arg.split(":", 1)[1] if ":" in arg else arg), []
                    self.reply("250 2.1.0 Ok")
                elif verb == "RCPT":
                    if sender is None:
                        self.reply("503 5.5.1 Need MAIL")
                        continue
                    rcpts.append(_address(arg.split(":", 1)[1] if ":" in arg else arg))
                    self.reply("250 2.1.5 Ok")
                elif verb == "DATA":
                    if not rcpts:
                        self.reply("503 5.5.1 Need RCPT")
                        continue
                    self.reply("354 End data with <CR><LF>.<CR><LF>")
                    chunks = []
                    while True:
                        raw = self.rfile.readline(1 << 20)
                        if not raw:
                            raise EOFError()
                        if raw in (b".\r\n", b".\n"):
                            break
                        if raw.startswith(b"."):
                            raw = raw[1:]
                        chunks.append(raw)
                    self.event("data")
                    with sink._lock:
                        sink.messages.append(SinkMessage(helo, auth, sender, rcpts, b"".join(chunks),
                                                         tls=self.tls_state(), auth_tls=auth_tls))
                    self.reply("250 2.0.0 Ok: queued")
                    sender, rcpts = None, []
                elif verb == "RSET":
                    sender, rcpts = None, []
                    self.reply("250 2.0.0 Ok")
                elif verb == "NOOP":
                    self.reply("250 2.0.0 Ok")
                elif verb == "QUIT":
                    self.event("quit")
                    self.reply("221 2.0.0 Bye")
                    return
                else:
                    self.reply("502 5.5.2 Command not implemented")
        except (EOFError, ConnectionError, OSError) as e:
            if isinstance(e, ssl.SSLError):
                self.event("tls-error %s" % e)
            return

    def authenticate(self, arg):
        sink = self.server.sink
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        try:
            if mech == "PLAIN":
                if not initial:
                    self.reply("334 ")
                    initial = self.readline()
                authzid, authcid, password = base64.b64decode(initial).decode().split("\0")
            elif mech == "LOGIN":
                if initial:
                    authcid = base64.b64decode(initial).decode()
                else:
                    self.reply("334 VXNlcm5hbWU6")
                    authcid = base64.b64decode(self.readline()).decode()
                self.reply("334 UGFzc3dvcmQ6")
                password = base64.b64decode(self.readline()).decode()
                authzid = ""
            else:
                self.reply("504 5.5.4 Unrecognized authentication type")
                return None
        except (ValueError, UnicodeDecodeError):
            self.reply("501 5.5.2 Cannot decode AUTH parameter")
            return None
        attempt = (mech, authcid, password, authzid)
        with sink._lock:
            sink.auth_attempts.append(attempt)
        if sink.users.get(authcid) != password:
            self.reply("535 5.7.8 Authentication credentials invalid")
            return None
        self.reply("235 2.7.0 Authentication successful")
        return attempt


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SmtpSink:
    """Use as a context manager or start()/stop(); .port is the loopback port it listens on.

    tls: None (no STARTTLS), "starttls" or "implicit" (SMTPS), with certfile/keyfile (PEM);
    auth_tls_only: offer and accept AUTH only once TLS is on."""

    TLS_MODES = (None, "starttls", "implicit")

    def __init__(self, name="sink.test", users=None, require_auth=False, port=0, host="127.0.0.1",
                 tls=None, certfile=None, keyfile=None, auth_tls_only=False):
        if tls not in self.TLS_MODES:
            raise ValueError("tls must be one of %r, not %r" % (self.TLS_MODES, tls))
        if tls is not None and not certfile:
            raise ValueError("tls=%r needs certfile (and keyfile, unless the key is in certfile)" % tls)
        self.name = name
        self.users = dict(users) if users is not None else None
        self.require_auth = require_auth
        self.host = host
        self.port = port
        self.tls = tls
        self.certfile = certfile
        self.keyfile = keyfile
        self.auth_tls_only = auth_tls_only
        self._tls_context = None
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            self._tls_context = ctx
        self.messages = []
        self.auth_attempts = []
        self.sessions = []            # SinkSession per connection, in order
        self._connections = 0
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    @property
    def connections(self):
        return self._connections

    def start(self):
        self._server = _Server((self.host, self.port), _Handler)
        self._server.sink = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="smtp-sink-%s" % self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def clear(self):
        with self._lock:
            self.messages = []
            self.auth_attempts = []
            self.sessions = []

    def sessions_snapshot(self):
        with self._lock:
            return [s for s in self.sessions]

    def tls_errors(self):
        """The TLS handshake failures the sink saw (e.g. a client that refused its certificate)."""
        with self._lock:
            return [e for s in self.sessions for e in s.events if e.startswith("tls-error")]

    def messages_to(self, address):
        address = address.lower()
        with self._lock:
            return [m for m in self.messages if address in m.recipients]

    def wait_for_message(self, address, timeout=20.0, text=None):
        """The messages for address (containing text, if given), once there is one; [] on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages_to(address) if text is None or text in m.text]
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
