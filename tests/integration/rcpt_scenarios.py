"""The RCPT cases of the standard route config, one table run by every MTA suite.

tests/integration/test_postfix.py RouteDecisionTests runs it through the real Postfix,
tests/sendmail/test_sendmail.py RouteDecisionTests through the real Sendmail. Each suite writes
its own config (its socket, its route hosts), but the rules these cases judge must be the same
in both (make_config there):
    scope = "routes"; local_domains = [ "lab.test" ];
    ip_ranges "My computer" (127.0.0.1, AUTH needed for external-external only) and
              "Internet" (the rest, AUTH needed for all but external-local);
    backup.test   treat_sender_as external, treat_recipient_as local, listed alice@ and bob@;
    partner.test  treat_sender_as external, treat_recipient_as external, deliver_to all.
The client is 127.0.0.1. Cases that need more than one RCPT's reply (log lines, DATA, several
transactions on one session, another client address) stay in the suites.

Each scenario: Scenario(name, sender, recipient, auth, code, enhanced, text, mta): auth is None,
AUTH or AUTH_FQ (the suite's SASL user, without or with its realm); enhanced and text, when not
None, must begin / be contained in the reply's text. mta maps an MTA's name to the
(code, enhanced, text) it answers instead, where it answers before the milter is asked; no case
needs one today (both MTAs hand every one of them to the milter).
"""

import collections

EXT_SENDER = "someone@outside.example"   # external sender (not a local domain, no route)
LOCAL_SENDER = "staff@lab.test"          # local sender (local_domains)
AUTH = "auth"                            # AUTH as the suite's SASL user
AUTH_FQ = "auth@realm"                   # AUTH as the suite's SASL user with @lab.test

Scenario = collections.namedtuple("Scenario", "name sender recipient auth code enhanced text mta",
                                  defaults=(None, None, None, {}))

NOT_LISTED = "<carol@backup.test>: Recipient not in route list."
AUTH_REQUIRED = "SMTP authentication is required."

SCENARIOS = [
    Scenario("listed recipient accepted", EXT_SENDER, "alice@backup.test", None, 250),
    Scenario("second listed recipient accepted", EXT_SENDER, "bob@backup.test", None, 250),
    Scenario("unlisted recipient rejected", EXT_SENDER, "carol@backup.test", None, 550, "5.1.1", NOT_LISTED),
    Scenario("listed match is case-insensitive", EXT_SENDER, "ALICE@Backup.TEST", None, 250),
    Scenario("listed match is case-insensitive (domain)", EXT_SENDER, "Bob@BACKUP.test", None, 250),
    Scenario("external route requires auth", EXT_SENDER, "anyone@partner.test", None, 530, "5.7.0", AUTH_REQUIRED),
    # The MTA passes {auth_authen} with MAIL FROM (Postfix and Sendmail alike).
    Scenario("external route with auth accepted", EXT_SENDER, "anyone@partner.test", AUTH, 250),
    Scenario("external route with auth (user@realm) accepted", EXT_SENDER, "other@partner.test", AUTH_FQ, 250),
    # local_domains sender -> treat_sender_as applies only to the route's own domain; lab.test
    # is local: local-external is allowed and needs no auth from 127.0.0.1.
    Scenario("external route local sender without auth", LOCAL_SENDER, "anyone@partner.test", None, 250),
    # backup.test: recipient treated as local -> external-local, no auth needed.
    Scenario("backup MX route unauthenticated", EXT_SENDER, "alice@backup.test", None, 250),
    Scenario("listed route rejects even when authenticated", EXT_SENDER, "carol@backup.test", AUTH, 550, "5.1.1"),
    Scenario("non-route domain untouched", EXT_SENDER, "someone@other.example", None, 250),
    Scenario("non-route domain untouched (other sender)", "x@another.example", "someone@other.example", None, 250),
]


def expected(scenario, mta):
    """(code, enhanced, text) that mta answers for scenario."""
    return scenario.mta.get(mta, (scenario.code, scenario.enhanced, scenario.text))


def run(case, mta, credentials):
    """Every scenario as a subTest of case, a TestCase with rcpt(rcpt, sender=, auth=) (which
    checks MAIL FROM) and assertReply(reply, code, enhanced, text, msg=); credentials maps AUTH
    and AUTH_FQ to (user, password)."""
    names = [s.name for s in SCENARIOS]
    case.assertEqual(len(names), len(set(names)), "scenario names must be unique")
    for s in SCENARIOS:
        code, enhanced, text = expected(s, mta)
        with case.subTest(s.name):
            auth = credentials[s.auth] if s.auth else None
            case.assertReply(case.rcpt(s.recipient, sender=s.sender, auth=auth), code, enhanced, text,
                             msg="%s: <%s> -> <%s>%s" % (s.name, s.sender, s.recipient, " (AUTH)" if auth else ""))
