"""The address the milter judges is the address the MTA delivers to: a differential test.

A seeded generator writes a few thousand MAIL FROM and RCPT TO arguments (every RFC 822 special
inside and outside quotes, groups, comments, source routes, '%' and '!', trailing dots, case,
U-labels and A-labels, 8-bit, blanks, repeated separators). Each goes through the real MTA with
the milter attached (milter.log_accepted, so every decision names the address it judged). For
every argument the MTA itself accepts:

  * the address the milter judged equals the MTA's own reading (Postfix: the from=/to= of its
    maillog, reject lines and deliveries; Sendmail: its address parse, `sendmail -bt /parse`);
  * the verdict equals the verdict for that plain address, sent again as a plain argument
    (except the RFC 5321 <postmaster> exemption, which belongs to the bare argument).

Used by test_postfix.py (AddressDifferentialTests) and tests/sendmail/test_sendmail.py.
"""

import os
import random
import re
import socket
import time

import address_scenarios

SEED = 24
TRANSACTIONS = 320      # one MAIL FROM each
RCPTS_PER_TRANSACTION = 9
PER_CONNECTION = 16     # transactions per SMTP connection

CONFIG = """\
# route-milter: address differential test (address_differential.py)
milter = { %(milter)s log_accepted = true; };
""" + address_scenarios.SCOPE_AND_RANGES + """\
routes = (
  { domain = "backup.test"; treat_recipient_as = "local";
    deliver_to = "listed"; addresses = [ "bob@backup.test", "\\"b o;b\\"@backup.test", "alice@backup.test" ]; },
  { domain = "xn--bcher-kva.test"; treat_recipient_as = "local";
    deliver_to = "listed"; addresses = [ "bob@xn--bcher-kva.test" ]; },
  { domain = "*.corp.test"; treat_recipient_as = "local";
    deliver_to = "listed"; addresses = [ "bob@x.corp.test" ]; },
  { domain = "partner.test"; treat_recipient_as = "local"; deliver_to = "all"; }
);
"""


def config(socket_spec=None, user=None):
    milter = ""
    if socket_spec:
        milter = 'socket = "%s"; ' % socket_spec + ('user = "%s"; ' % user if user else "")
    return CONFIG % {"milter": milter}


# ---------------------------------------------------------------- the generator

LOCALS = ["bob", "Bob", "BOB", "alice", "a.b", "x+tag", "o'neil", "bob.", "b..b", '"bob"', '"b o;b"',
          '"a@b"', '"a\\"b"', '"(x)"', '"a,b"', '"x;y"', "bob%far.test", "far.test!bob", "b\\;ob",
          "j\u00f6s\u00e9", "\u00c4LICE", "post_master", "user=x"]
DOMAINS = ["backup.test", "BACKUP.Test", "backup.test.", "own.test", "Own.Test.", "far.test", "partner.test",
           "x.corp.test", "y.corp.test", "sub.corp.test", "xn--bcher-kva.test", "XN--BCHER-KVA.test",
           "b\u00fccher.test", "B\u00dcCHER.test", "[127.0.0.1]", "ext.example", "backup.test..", "-x.test"]
BARE = ["bob", "postmaster", "Postmaster", "abuse"]
WRAPPERS = ["<{a}>", "<{a}>", "<{a}>", "{a}", "<{a};>", "<{a},>", "<{a};;;>", "<{a},,>", "<{a}:>",
            "<grp: {a};>", "<grp:{a};>", "<grp:;{a}>", "<{a} (c)>", "<(c){a}>", "<{a}(a(b)c)>", "< {a} >",
            "<{l} @ {d}>", "<{l}(c)@{d}>", "<{l}@(c){d}>", "<{l}@{d} >", "<@r1.test,@r2.test:{a}>",
            "<@r1.test:{a}>", "<Name <{a}>>", '<"Ph, rase" <{a}>>', "<;{a}>", "<,{a}>", "<{a} , >",
            "<{a}\t>", "<{l}@{d}.>", "<{a}>;", "<{a},x@far.test>", "<\"{l}\"@{d}>", "<{l}@[{d}]>"]
NOISE = list("()<>,;:\\\".[]@ !%\t") + ["\u00e9", "\x7f"]


def _address(rng):
    if rng.random() < 0.07:
        return rng.choice(BARE), None
    local, domain = rng.choice(LOCALS), rng.choice(DOMAINS)
    return local + "@" + domain, (local, domain)


def _argument(rng):
    a, parts = _address(rng)
    wrapper = rng.choice(WRAPPERS)
    if ("{l}" in wrapper or "{d}" in wrapper) and parts is None:
        wrapper = "<{a}>"
    arg = wrapper.format(a=a, l=parts[0] if parts else "", d=parts[1] if parts else "")
    for _ in range(rng.choice([0, 0, 0, 1, 2])):  # noise anywhere
        i = rng.randrange(len(arg) + 1)
        arg = arg[:i] + rng.choice(NOISE) + arg[i:]
    return arg


def generate(seed=SEED, transactions=TRANSACTIONS, rcpts=RCPTS_PER_TRANSACTION):
    """[(sender argument, [recipient arguments])], the same for the same seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(transactions):
        sender = "<>" if rng.random() < 0.05 else _argument(rng)
        out.append((sender, [_argument(rng) for _ in range(rcpts)]))
    return out


# ---------------------------------------------------------------- normal forms

def canonical(address):
    """An MTA's rendering of an address (quoted local part, any case, U- or A-labels, trailing
    dot) in the milter's canonical form: unquoted local part, lower case, A-label domain."""
    if address in ("", "<>"):
        return ""
    # The domain follows the last '@' outside quotes; quotes and backslashes go.
    local, domain, quoted, i = [], None, False, 0
    while i < len(address):
        c = address[i]
        if c == "\\" and i + 1 < len(address):
            local.append(address[i + 1])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == "@" and not quoted and "@" not in address[i + 1:].replace('\\@', ''):
            domain = address[i + 1:]
            break
        else:
            local.append(c)
        i += 1
    local = "".join(local).lower()  # Postfix's resolver case-folds the whole address
    if domain is None:
        return local
    domain = domain.rstrip(".").lower()
    if not domain.startswith("["):
        domain = ".".join("xn--" + label.encode("punycode").decode() if any(ord(c) > 127 for c in label) else label
                          for label in domain.split("."))
    return local + "@" + domain


ATEXT = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")


def plain_argument(judged):
    """<judged> as a plain SMTP argument (local part quoted where RFC 5321 wants it)."""
    if judged == "":
        return "<>"
    local, at, domain = judged.rpartition("@")
    if not at:
        local, domain = judged, ""
    dot_atom = local and all(part and all(c in ATEXT or ord(c) > 127 for c in part) for part in local.split("."))
    if not dot_atom:
        local = '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "<%s%s>" % (local, "@" + domain if at else "")


# ---------------------------------------------------------------- SMTP

class Smtp:
    """A bare SMTP client over bytes (smtplib refuses 8-bit commands)."""

    def __init__(self, host, port, source=None, timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.reply()  # greeting
        code, text = self.cmd("EHLO client.example.net")
        self.smtputf8 = "SMTPUTF8" in text.upper()

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return -1, "disconnected"
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                break
        return int(lines[-1][:3]), "\n".join(l[4:] for l in lines)

    def cmd(self, line):
        self.sock.sendall(line.encode("utf-8") + b"\r\n")
        return self.reply()

    def data(self):
        code, text = self.cmd("DATA")
        if code != 354:
            return code, text
        return self.cmd("Subject: differential\r\n\r\nhello\r\n.")

    def close(self):
        try:
            self.cmd("QUIT")
        except OSError:
            pass
        self.sock.close()


MILTER_LINE = re.compile(r"^\S+: (?P<qid>\S+): (?P<verdict>accept|reject|warn): RCPT from \S+: "
                         r"(?:would reject: )?(?:(?P<code>\d{3}) (?P<x>\d\.\d{1,3}\.\d{1,3}) .*?; )?"
                         r"from=(?P<sender>.*?) to=(?P<rcpt>.*) rule=(?P<rule>[a-z-]+) route=", re.M)


def _judged(logged):
    """The address from a log field: <judged> (its \\xHH escapes undone), or None for a raw
    argument (not judged)."""
    if not (logged.startswith("<") and logged.endswith(">")):
        return None
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), logged[1:-1])


def as_logged_by_postfix(address):
    """Postfix logs a control character as '?'."""
    return "".join("?" if ord(c) < 32 or ord(c) == 127 else c for c in address)


def _enhanced(text):
    m = re.match(r"(\d\.\d{1,3}\.\d{1,3})", text)
    return m.group(1) if m else None


class Record:
    def __init__(self, sender, rcpt):
        self.sender_arg, self.rcpt_arg = sender, rcpt
        self.reply = None       # (code, enhanced) the client got
        self.judged = None      # the milter's log match, when the milter was asked
        self.qid = None         # the queue id of the transaction, when it was queued
        self.plain_reply = None


def run(host, port, milter, transactions, source=None, per_connection=PER_CONNECTION):
    """Sends every transaction; returns the Records of the RCPTs whose MAIL FROM was accepted."""
    records, smtp = [], None
    for n, (sender, rcpts) in enumerate(transactions):
        if smtp is None or n % per_connection == 0:
            if smtp is not None:
                smtp.close()
            smtp = Smtp(host, port, source)
        eight_bit = any(ord(c) > 127 for c in sender + "".join(rcpts))
        code, text = smtp.cmd("MAIL FROM:%s%s" % (sender, " SMTPUTF8" if eight_bit and smtp.smtputf8 else ""))
        if code == -1:
            smtp = None
            continue
        if code != 250:
            continue
        batch = []
        for rcpt in rcpts:
            offset = os.path.getsize(milter.logfile)
            r = Record(sender, rcpt)
            code, text = smtp.cmd("RCPT TO:%s" % rcpt)
            r.reply = (code, _enhanced(text))
            lines = list(MILTER_LINE.finditer(text_since(milter.logfile, offset)))
            if len(lines) > 1:
                raise AssertionError("the milter logged %d decisions for one RCPT TO:%r" % (len(lines), rcpt))
            r.judged = lines[0] if lines else None
            batch.append(r)
            if code == -1:
                break
        if any(200 <= r.reply[0] < 300 for r in batch):
            code, text = smtp.data()
            q = re.search(r"queued as (\S+)", text)
            for r in batch:
                r.qid = q.group(1) if q else None
        else:
            smtp.cmd("RSET")
        records += batch
    if smtp is not None:
        smtp.close()
    return records


def judged_pair(r):
    """(judged sender, judged recipient) of a record the milter decided, or None."""
    if r.judged is None or r.judged.group("rule") in ("bad-address", "bad-sender"):
        return None  # refused unread: the log holds the argument as the client wrote it
    sender, rcpt = _judged(r.judged.group("sender")), _judged(r.judged.group("rcpt"))
    return None if sender is None or rcpt is None else (sender, rcpt)


def replay_plain(host, port, records, source=None, per_connection=PER_CONNECTION):
    """Sends every judged pair again as plain arguments; sets each record's plain_reply."""
    by_pair = {}
    for r in records:
        pair = judged_pair(r)
        if pair is not None and r.judged.group("rule") != "postmaster":
            by_pair.setdefault(pair, []).append(r)
    by_sender = {}
    for sender, rcpt in by_pair:
        by_sender.setdefault(sender, []).append(rcpt)
    smtp, n = None, 0
    for sender, rcpts in sorted(by_sender.items()):
        for i in range(0, len(rcpts), RCPTS_PER_TRANSACTION):
            if smtp is None or n % per_connection == 0:
                if smtp is not None:
                    smtp.close()
                smtp = Smtp(host, port, source)
            n += 1
            chunk = rcpts[i:i + RCPTS_PER_TRANSACTION]
            eight_bit = any(ord(c) > 127 for c in sender + "".join(chunk))
            code, text = smtp.cmd("MAIL FROM:%s%s" % (plain_argument(sender),
                                                     " SMTPUTF8" if eight_bit and smtp.smtputf8 else ""))
            for rcpt in chunk:
                reply = (-2, "MAIL FROM refused: %d %s" % (code, text))
                if code == 250:
                    c, t = smtp.cmd("RCPT TO:%s" % plain_argument(rcpt))
                    reply = (c, _enhanced(t))
                for r in by_pair[(sender, rcpt)]:
                    r.plain_reply = reply
            smtp.cmd("RSET")
    if smtp is not None:
        smtp.close()


def verdict_mismatches(records):
    """Records whose verdict differs from the plain address's."""
    return [r for r in records if r.plain_reply is not None and r.plain_reply != r.reply]


def describe(r, what):
    return "%s: MAIL FROM:%r RCPT TO:%r -> %r; milter: %s" % (
        what, r.sender_arg, r.rcpt_arg, r.reply, r.judged.group(0) if r.judged else "not asked")


# ---------------------------------------------------------------- Postfix's maillog

POSTFIX_REJECT = re.compile(r"milter-reject: RCPT from \S+: .*; from=<(?P<sender>.*?)> to=<(?P<rcpt>.*?)> proto=")
POSTFIX_FROM = re.compile(r" (?P<qid>[0-9A-F]+): from=<(?P<sender>.*?)>, size=")
POSTFIX_TO = re.compile(r" (?P<qid>[0-9A-F]+): to=<(?P<rcpt>.*?)>, (?:orig_to=<.*?>, )?relay=")


def postfix_rejection_mismatches(records, maillog):
    """Enforce mode: Postfix logged one milter rejection for each refusal the milter logged."""
    rejects = len(POSTFIX_REJECT.findall(maillog))
    refused = sum(r.judged is not None and r.judged.group("verdict") == "reject" for r in records)
    return [] if rejects == refused else ["Postfix logged %d milter rejections, the milter %d" % (rejects, refused)]


def postfix_delivery_mismatches(records, maillog):
    """Warn mode (every argument Postfix takes is queued): where the addresses the milter judged
    differ from the ones Postfix queued and delivered (its maillog's from= and to=)."""
    problems = []
    senders = {m.group("qid"): canonical(m.group("sender")) for m in POSTFIX_FROM.finditer(maillog)}
    delivered = {}
    for m in POSTFIX_TO.finditer(maillog):
        delivered.setdefault(m.group("qid"), set()).add(canonical(m.group("rcpt")))
    by_qid = {}
    for r in records:
        if r.qid and 200 <= r.reply[0] < 300:
            by_qid.setdefault(r.qid, []).append(r)
    for qid, rs in by_qid.items():
        # <postmaster> is taken whatever the sender (RFC 5321 4.5.1), so an unread sender may come with it.
        unjudged = [r for r in rs if judged_pair(r) is None and not (r.judged and r.judged.group("rule") == "postmaster")]
        if unjudged:
            problems.append(describe(unjudged[0], "%s: accepted, but no judged address logged" % qid))
            continue
        rs = [r for r in rs if judged_pair(r) is not None]
        if not rs:
            continue
        judged = {as_logged_by_postfix(judged_pair(r)[1]) for r in rs}
        if delivered.get(qid) != judged:
            problems.append("%s: Postfix delivered to %s, the milter judged %s (arguments %r)" % (
                qid, sorted(delivered.get(qid, ())), sorted(judged), [r.rcpt_arg for r in rs]))
        sender = as_logged_by_postfix(judged_pair(rs[0])[0])
        queued = senders.get(qid) or ""
        if queued != sender and re.search(r"[%!@]", queued.rpartition("@")[0]):
            # Postfix queues a routed sender as written and resolves it for its bounces; the
            # milter judges the resolved one, and the sender local when either form is.
            continue
        if queued != sender:
            problems.append("%s: Postfix queued from=<%s>, the milter judged <%s> (argument %r)" % (
                qid, senders.get(qid), sender, rs[0].sender_arg))
    return problems, len(by_qid)


def judged_the_same(first, second):
    """Records of two runs of the same arguments whose judged addresses differ."""
    return [a for a, b in zip(first, second)
            if (a.rcpt_arg, a.sender_arg) == (b.rcpt_arg, b.sender_arg) and judged_pair(a) != judged_pair(b)]


# ---------------------------------------------------------------- Sendmail's address parse

SENDMAIL_PARSE = re.compile(r"^mailer (?P<mailer>[^,\s]+)(?:, host (?P<host>[^,\s]*))?, user (?P<user>.*)$", re.M)


def sendmail_mismatches(records, parse):
    """Where the milter's judged recipient differs from Sendmail's own parse of the argument.
    parse(arguments) -> {argument: (mailer, user)} (sendmail -bt /parse). For the local mailer
    Sendmail keeps the user alone: the judged local part must be that user."""
    judged = [r for r in records if judged_pair(r) is not None]
    parsed = parse(sorted({r.rcpt_arg for r in judged}))
    problems = []
    for r in judged:
        got = parsed.get(r.rcpt_arg)
        rcpt = judged_pair(r)[1]
        if got is None:
            problems.append(describe(r, "Sendmail's -bt /parse gave no mailer"))
            continue
        mailer, user = got
        if "@" in user:
            if canonical(user) != rcpt:
                problems.append(describe(r, "Sendmail parsed it as %s:%s" % (mailer, user)))
        elif canonical(user) != (rcpt.rpartition("@")[0] if "@" in rcpt else rcpt):
            problems.append(describe(r, "Sendmail's %s mailer got the user %s" % (mailer, user)))
    return problems


def summary(records):
    asked = [r for r in records if r.judged is not None]
    verdicts = {}
    for r in asked:
        verdicts[r.reply[0]] = verdicts.get(r.reply[0], 0) + 1
    return "%d RCPT arguments, %d judged by the milter (replies %s), %d compared with the plain address" % (
        len(records), len(asked), dict(sorted(verdicts.items())), sum(r.plain_reply is not None for r in records))


def text_since(path, offset):
    """A log's text from a byte offset (os.path.getsize's; the logs hold UTF-8)."""
    with open(path, "rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8", "replace")


def wait_for_deliveries(log_text, qids, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_text()
        if all(re.search(r" %s: removed" % re.escape(q), text) for q in qids):
            return text
        time.sleep(0.2)
    return log_text()


if __name__ == "__main__":  # print a sample of what the generator writes
    for s, rs in generate()[:int(os.environ.get("N", "5"))]:
        print(repr(s), [repr(r) for r in rs])
