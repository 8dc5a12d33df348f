"""RCPT scenarios that an attacker or an awkward client tries, run by every MTA suite.

One config and one table: tests/integration/test_postfix.py runs it through the real Postfix,
tests/sendmail/test_sendmail.py through the real Sendmail. The client is on 127.0.0.1, which the
config puts in hMailServer's "Internet" range (AUTH needed for a local sender), so a forged local
sender is refused unless a comment could disguise it.

Each scenario: (name, sender, recipient, code, enhanced status or None). Sender and recipient are
sent verbatim inside <...>. The code is the milter's answer when it reads the SMTP arguments
itself (no {mail_addr}/{rcpt_addr} from the MTA: strictly, refusing what it cannot read exactly as
the MTA does). Postfix and Sendmail send their own reading of both addresses; the milter judges
that, so a comment, a blank or a group phrase changes nothing: expected() gives the answer then,
which is the plain address's.
"""

ALL_CLASSES = '[ "local-local", "local-external", "external-local", "external-external" ]'


def config(socket=None, user=None):
    """The scenarios' config, with a milter group when socket is given."""
    milter = 'milter = { socket = "%s"; user = "%s"; };\n' % (socket, user) if socket else ""
    return CONFIG.replace("# milter\n", milter)


# Every client is in "Internet", which needs AUTH for local senders and for relaying.
SCOPE_AND_RANGES = """\
scope = "all";
local_domains = [ "own.test", "sub.corp.test" ];
ip_ranges = (
  { name = "Internet"; cidr = [ "0.0.0.0/0", "::/0" ]; priority = 10;
    allow = """ + ALL_CLASSES + """;
    require_auth = [ "local-local", "local-external", "external-external" ]; }
);
"""

CONFIG = """\
# route-milter: hostile address scenarios (address_scenarios.py)
# milter
""" + SCOPE_AND_RANGES + """\
routes = (
  { domain = "backup.test"; treat_recipient_as = "local";
    deliver_to = "listed"; addresses = [ "alice@backup.test" ]; },
  { domain = "*.corp.test"; treat_recipient_as = "local";
    deliver_to = "listed"; addresses = [ "x@a.corp.test" ]; },
  { domain = "*";
    deliver_to = "listed"; addresses = [ "y@far.test" ]; }
);
"""

EXT = "ext@far.test"        # external sender: the "*" route lists only y@far.test
LOCAL = "ceo@own.test"      # local sender: needs AUTH from the Internet range
LONG_LOCAL_PART = "a" * 1000

# Comment positions, {} = the address part they surround. tok822 (Postfix) and prescan
# (Sendmail) strip every one of them and deliver to the plain address.
COMMENT_FORMS = [
    ("after the domain", "{l}@{d}(x)"),
    ("before the domain", "{l}@(x){d}"),
    ("inside the domain", "{l}@{d1}(x).{d2}"),
    ("before the @", "{l}(x)@{d}"),
    ("before the local part", "(x){l}@{d}"),
    ("nested", "{l}@{d}(a(b)c)"),
]


def _with_comment(form, local, domain):
    d1, d2 = domain.split(".", 1)
    return form.format(l=local, d=domain, d1=d1, d2=d2)


SCENARIOS = [
    # The baseline the comments try to get around.
    ("external sender to own domain", EXT, "staff@own.test", 250, None),
    ("local sender needs AUTH", LOCAL, "alice@backup.test", 530, "5.7.0"),
    ("listed recipient", EXT, "alice@backup.test", 250, None),
    ("unlisted recipient", EXT, "abuse@backup.test", 550, "5.1.1"),
]
# Trailing and embedded RFC 822 specials outside quotes: tok822 and prescan take them as list,
# group or route syntax and deliver to the plain address.
SPECIAL_FORMS = [
    ("trailing ;", "{l}@{d};"),
    ("trailing ,", "{l}@{d},"),
    ("repeated ;", "{l}@{d};;;"),
    ("group phrase", "grp: {l}@{d};"),
    ("trailing :", "{l}@{d}:"),
    ("bracket in the local part", "{l}[x]@{d}"),
]

SCENARIOS += [("sender comment " + name, _with_comment(form, "ceo", "own.test"), "alice@backup.test", 501, "5.1.7")
              for name, form in COMMENT_FORMS]
SCENARIOS += [
    # The same class without a comment: tok822 drops blanks too, so <ceo @ own.test> is ceo@own.test
    # to the MTA. Any sender the milter cannot read is refused, never guessed "external".
    ("sender with blanks around the @", "ceo @ own.test", "alice@backup.test", 501, "5.1.7"),
    ("sender with a trailing blank", "ceo@own.test ", "alice@backup.test", 501, "5.1.7"),
]
SCENARIOS += [("recipient comment " + name, EXT, _with_comment(form, "abuse", "backup.test"), 501, "5.1.3")
              for name, form in COMMENT_FORMS]
SCENARIOS += [("sender " + name, form.format(l="ceo", d="own.test"), "alice@backup.test", 501, "5.1.7")
              for name, form in SPECIAL_FORMS]
SCENARIOS += [("recipient " + name, EXT, form.format(l="abuse", d="backup.test"), 501, "5.1.3")
              for name, form in SPECIAL_FORMS]
SCENARIOS += [
    # Quoted parentheses are not a comment for the MTA either: judged as the address they are.
    ("quoted parentheses", EXT, '"abuse(x)"@backup.test', 550, "5.1.1"),
    # This server's own domains never take a listed wildcard or "*" route.
    ("own domain under a listed wildcard", EXT, "u@sub.corp.test", 250, None),
    ("own domain under a listed *", EXT, "u@own.test", 250, None),
    ("wildcard route still listed", EXT, "u@b.corp.test", 550, "5.1.1"),
    ("* route still listed", EXT, "u@else.test", 550, "5.1.1"),
    # The MTA re-routes these own-domain addresses to far.test (percent hack, bang path, dequoting).
    ("percent hack", EXT, "victim%far.test@own.test", 550, "5.7.1"),
    ("bang path", EXT, "far.test!victim@own.test", 550, "5.7.1"),
    ("quoted @ in the local part", EXT, '"victim@far.test"@own.test', 550, "5.7.1"),
    ("bare percent hack", EXT, "victim%far.test", 550, "5.7.1"),
    # RFC 5321 4.5.1: <Postmaster> is accepted whatever the range says (local-local needs AUTH here).
    ("bare Postmaster", LOCAL, "Postmaster", 250, None),
    ("postmaster with a domain is judged", LOCAL, "postmaster@own.test", 530, "5.7.0"),
    # A reply quoting a 1000-byte address would exceed libmilter's limit and become a 4xx.
    ("long unlisted recipient", EXT, LONG_LOCAL_PART + "@backup.test", 550, "5.1.1"),
]


# What the scenarios come to when the MTA sends its own reading of the addresses: the plain
# address's verdict. A forged local sender needs AUTH (530), an unlisted recipient is not listed
# (550). Not here: the MTA refuses the form itself or reads it as the argument says.
_PLAIN_SENDER = ("local sender needs AUTH", 530, "5.7.0")
_PLAIN_RECIPIENT = ("unlisted recipient", 550, "5.1.1")
WITH_MTA_READING = {}
for _name, _sender, _rcpt, _code, _enhanced in SCENARIOS:
    if _code == 501 and _enhanced == "5.1.7":
        WITH_MTA_READING[_name] = _PLAIN_SENDER[1:]
    elif _code == 501 and _enhanced == "5.1.3":
        WITH_MTA_READING[_name] = _PLAIN_RECIPIENT[1:]
# <victim%far.test> is qualified by the MTA (Postfix: @$myorigin, Sendmail: its percent hack to
# victim@far.test): either way no own domain is left to re-route, and the "*" route lists neither.
WITH_MTA_READING["bare percent hack"] = (550, "5.1.1")


# Where an MTA answers otherwise than the plain address's verdict: (stage, code). Postfix refuses
# some forms itself (stage MAIL or RCPT); Sendmail refuses a trailing comma or colon itself and
# keeps a group phrase or a bracket in its reading of the address ("grp:abuse@backup.test"),
# which the milter cannot read as an address and refuses (501).
MTA_OWN = {
    "postfix": {"sender trailing :": ("MAIL", 501), "sender bracket in the local part": ("MAIL", 501),
                "recipient trailing :": ("RCPT", 501), "recipient bracket in the local part": ("RCPT", 501)},
    "sendmail": {"sender trailing ,": ("MAIL", 553), "recipient trailing ,": ("RCPT", 553),
                 "sender trailing :": ("MAIL", 553), "recipient trailing :": ("RCPT", 553),
                 "sender group phrase": ("RCPT", 501), "recipient group phrase": ("RCPT", 501),
                 "sender bracket in the local part": ("RCPT", 501),
                 "recipient bracket in the local part": ("RCPT", 501)},
}


def check(test, mta, name, sender, rcpt, code, enhanced, transaction):
    """Asserts a scenario's transaction through `mta`, which sends its own reading of addresses."""
    code, enhanced = expected(name, code, enhanced, mta_reading=True)
    t, what = transaction, "%s: <%s> -> <%.80s>: %r" % (name, sender, rcpt, transaction)
    own = MTA_OWN[mta].get(name)
    if own is not None and own[0] == "MAIL":
        test.assertEqual(t.mail[0], own[1], what)
        return
    test.assertEqual(t.mail[0], 250, what)
    if own is not None:
        test.assertEqual(t.rcpts[0][0], own[1], what)
        return
    test.assertReply(t.rcpts[0], code, enhanced, msg=what)


def expected(name, code, enhanced, mta_reading):
    """The (code, enhanced) a scenario must get; mta_reading: the MTA sends {mail_addr}/{rcpt_addr}."""
    return WITH_MTA_READING.get(name, (code, enhanced)) if mta_reading else (code, enhanced)
