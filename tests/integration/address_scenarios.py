"""RCPT scenarios that an attacker or an awkward client tries, run by every MTA suite.

One config and one table: tests/integration/test_postfix.py runs it through the real Postfix,
tests/sendmail/test_sendmail.py through the real Sendmail. The client is on 127.0.0.1, which the
config puts in hMailServer's "Internet" range (AUTH needed for a local sender), so a forged local
sender is refused unless a comment could disguise it.

Each scenario: (name, sender, recipient, code, enhanced status or None). Sender and recipient are
sent verbatim inside <...>.
"""

ALL_CLASSES = '[ "local-local", "local-external", "external-local", "external-external" ]'


def config(socket=None, user=None):
    """The scenarios' config, with a milter group when socket is given."""
    milter = 'milter = { socket = "%s"; user = "%s"; };\n' % (socket, user) if socket else ""
    return CONFIG.replace("# milter\n", milter)


CONFIG = """\
# route-milter: hostile address scenarios (address_scenarios.py)
# milter
scope = "all";
local_domains = [ "own.test", "sub.corp.test" ];
ip_ranges = (
  { name = "Internet"; cidr = [ "0.0.0.0/0", "::/0" ]; priority = 10;
    allow = """ + ALL_CLASSES + """;
    require_auth = [ "local-local", "local-external", "external-external" ]; }
);
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
