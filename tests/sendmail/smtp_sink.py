"""A small loopback SMTP server for the Sendmail tests: records every message it receives.

SmtpSink(users={"relay": "secret"}) offers AUTH PLAIN and LOGIN and records the credentials a
client used (any credentials are checked against users; wrong ones get 535).  With
require_auth=True, MAIL without AUTH gets 530.  Nothing is delivered anywhere: messages are kept
in memory (sink.messages) for the test to inspect.  Python 3 stdlib only.
"""

import base64
import socketserver
import threading
import time


class SinkMessage:
    def __init__(self, helo, auth, sender, recipients, data):
        self.helo = helo
        self.auth = auth              # (mechanism, authcid, password, authzid) or None
        self.sender = sender
        self.recipients = recipients
        self.data = data              # bytes, dot-unstuffed, CRLF line ends

    @property
    def text(self):
        return self.data.decode("utf-8", "replace")

    def __repr__(self):
        return "SinkMessage(from=%r, to=%r, auth=%r)" % (self.sender, self.recipients,
                                                         self.auth[1] if self.auth else None)


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

    def handle(self):
        sink = self.server.sink
        sink._connections += 1
        helo, auth, sender, rcpts = "", None, None, []
        self.reply("220 %s ESMTP route-milter test sink" % sink.name)
        try:
            while True:
                line = self.readline()
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                if verb in ("EHLO", "HELO"):
                    helo = arg
                    sender, rcpts = None, []
                    if verb == "HELO":
                        self.reply("250 %s" % sink.name)
                        continue
                    # SMTPUTF8: the Postfix tests deliver to IDN domains through a sink (reads UTF-8)
                    lines = [sink.name, "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"]
                    if sink.users is not None:
                        lines.append("AUTH PLAIN LOGIN")
                    for i, l in enumerate(lines):
                        self.reply("250%s%s" % (" " if i == len(lines) - 1 else "-", l))
                elif verb == "AUTH" and sink.users is not None:
                    auth = self.authenticate(arg) or auth
                elif verb == "MAIL":
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
                    with sink._lock:
                        sink.messages.append(SinkMessage(helo, auth, sender, rcpts, b"".join(chunks)))
                    self.reply("250 2.0.0 Ok: queued")
                    sender, rcpts = None, []
                elif verb == "RSET":
                    sender, rcpts = None, []
                    self.reply("250 2.0.0 Ok")
                elif verb == "NOOP":
                    self.reply("250 2.0.0 Ok")
                elif verb == "QUIT":
                    self.reply("221 2.0.0 Bye")
                    return
                else:
                    self.reply("502 5.5.2 Command not implemented")
        except (EOFError, ConnectionError, OSError):
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
    """Use as a context manager or start()/stop(); .port is the loopback port it listens on."""

    def __init__(self, name="sink.test", users=None, require_auth=False, port=0, host="127.0.0.1"):
        self.name = name
        self.users = dict(users) if users is not None else None
        self.require_auth = require_auth
        self.host = host
        self.port = port
        self.messages = []
        self.auth_attempts = []
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
