#define BOOST_TEST_DYN_LINK
#include "route_milter/core/address.hpp"
#include "route_milter/core/domain.hpp"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <ostream>

using namespace route_milter;

namespace {

struct Case {
    const char* raw;
    AddressStatus status;
    const char* canonical;  // when ok
    const char* domain;
};
std::ostream& operator<<(std::ostream& os, const Case& c) { return os << '"' << c.raw << '"'; }

const Case cases[] = {
    {"<alice@example.com>", AddressStatus::ok, "alice@example.com", "example.com"},
    {"alice@example.com", AddressStatus::ok, "alice@example.com", "example.com"},
    {"<Alice@EXAMPLE.Com>", AddressStatus::ok, "alice@example.com", "example.com"},
    {"<alice@example.com.>", AddressStatus::ok, "alice@example.com", "example.com"},
    {"<@relay1.example,@relay2.example:bob@example.com>", AddressStatus::ok, "bob@example.com", "example.com"},
    {"<\"john doe\"@example.com>", AddressStatus::ok, "john doe@example.com", "example.com"},
    {"<\"alice\"@example.com>", AddressStatus::ok, "alice@example.com", "example.com"},
    {"<\"a\\\"b\"@example.com>", AddressStatus::ok, "a\"b@example.com", "example.com"},
    {"<\"a@b\"@example.com>", AddressStatus::ok, "a@b@example.com", "example.com"},
    {"<user@[192.0.2.1]>", AddressStatus::ok, "user@[192.0.2.1]", "[192.0.2.1]"},
    {"<user@[IPv6:2001:db8::1]>", AddressStatus::ok, "user@[ipv6:2001:db8::1]", "[ipv6:2001:db8::1]"},
    {"<user@Bücher.Example>", AddressStatus::ok, "user@xn--bcher-kva.example", "xn--bcher-kva.example"},
    {"<user@XN--BCHER-KVA.example>", AddressStatus::ok, "user@xn--bcher-kva.example", "xn--bcher-kva.example"},
    {"<>", AddressStatus::ok, "", ""},
    {"<postmaster>", AddressStatus::ok, "postmaster", ""},
    {"  <alice@example.com>  ", AddressStatus::ok, "alice@example.com", "example.com"},
    {"", AddressStatus::empty, "", ""},
    {"<alice@example.com", AddressStatus::unbalanced_angle, "", ""},
    {"alice@example.com>", AddressStatus::unbalanced_angle, "", ""},
    {"<\"alice@example.com>", AddressStatus::unbalanced_quote, "", ""},
    {"<@relay.example alice@example.com>", AddressStatus::bad_source_route, "", ""},
    {"<al ice@example.com>", AddressStatus::bad_character, "", ""},
    {"<alice@exa mple.com>", AddressStatus::bad_character, "", ""},
    {"<alice@>", AddressStatus::bad_domain, "", ""},
    {"<alice@.>", AddressStatus::bad_domain, "", ""},
    {"<alice@\xff\xfe.example>", AddressStatus::bad_domain, "", ""},
    {"<alice@\xef\xbb\xbf>", AddressStatus::bad_domain, "", ""},       // U+FEFF: IDNA maps it to nothing
    {"<alice@\xc2\xad>", AddressStatus::bad_domain, "", ""},            // U+00AD (soft hyphen) likewise
    {"<a@b@c>", AddressStatus::bad_character, "", ""},
    // RFC 822 comments, which Postfix's tok822 and Sendmail's prescan strip before delivery: refused
    // wherever they stand. Quoted or escaped parentheses are plain characters to both MTAs too.
    {"<ceo@own.test(x)>", AddressStatus::comment, "", ""},
    {"<ceo@(x)own.test>", AddressStatus::comment, "", ""},
    {"<ceo@own(x).test>", AddressStatus::comment, "", ""},
    {"<ceo(x)@own.test>", AddressStatus::comment, "", ""},
    {"<(x)ceo@own.test>", AddressStatus::comment, "", ""},
    {"<c(x)eo@own.test>", AddressStatus::comment, "", ""},
    {"ceo@own.test(x)", AddressStatus::comment, "", ""},
    {"<ceo@own.test(nested (comment))>", AddressStatus::comment, "", ""},
    {"<ceo@own.test(x@far.test)>", AddressStatus::comment, "", ""},
    // List, group and route syntax outside quotes: the MTAs drop it and deliver to the plain
    // address, so a reading that kept it would judge another domain. Refused wherever it stands.
    {"<ceo@own.test;>", AddressStatus::special_character, "", ""},
    {"ceo@own.test;", AddressStatus::special_character, "", ""},
    {"<ceo@own.test;;;>", AddressStatus::special_character, "", ""},
    {"<ceo@own.test,>", AddressStatus::special_character, "", ""},
    {"<ceo@own.test,bob@far.test>", AddressStatus::special_character, "", ""},
    {"<ceo@own.test:>", AddressStatus::special_character, "", ""},
    {"<grp:ceo@own.test;>", AddressStatus::special_character, "", ""},
    {"<c;eo@own.test>", AddressStatus::special_character, "", ""},
    {"<ceo[x]@own.test>", AddressStatus::special_character, "", ""},
    {"<ceo@own.test[x]>", AddressStatus::special_character, "", ""},
    {"<ceo@[own.test]x>", AddressStatus::special_character, "", ""},
    {"<@relay;x:ceo@own.test>", AddressStatus::bad_source_route, "", ""},
    {"<\"c;e,o:[]\"@own.test>", AddressStatus::ok, "c;e,o:[]@own.test", "own.test"},
    {"<c\\;eo@own.test>", AddressStatus::ok, "c;eo@own.test", "own.test"},
    {"<@relay.test:ceo@own.test(x)>", AddressStatus::comment, "", ""},
    {"<ceo@own.test)>", AddressStatus::comment, "", ""},
    {"<ceo)@own.test>", AddressStatus::comment, "", ""},
    {"<\"c(x)eo\"@own.test>", AddressStatus::ok, "c(x)eo@own.test", "own.test"},
    {"<c\\(x\\)eo@own.test>", AddressStatus::ok, "c(x)eo@own.test", "own.test"},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(address)

BOOST_DATA_TEST_CASE(parses_mta_forms, boost::unit_test::data::make(cases), c) {
    NormalizedAddress a;
    BOOST_TEST(static_cast<int>(parse_address(c.raw, a)) == static_cast<int>(c.status), describe(parse_address(c.raw, a)));
    if (c.status == AddressStatus::ok) {
        BOOST_TEST(a.text() == c.canonical);
        BOOST_TEST(a.domain() == c.domain);
    }
}

BOOST_AUTO_TEST_CASE(nul_byte_is_rejected) {
    NormalizedAddress a;
    const std::string raw("<al\0ice@example.com>", 20);
    BOOST_TEST(static_cast<int>(parse_address(raw, a)) == static_cast<int>(AddressStatus::bad_character));
}

BOOST_AUTO_TEST_CASE(overlong_address_is_rejected) {
    NormalizedAddress a;
    const std::string raw = "<" + std::string(100000, 'a') + "@example.com>";
    BOOST_TEST(static_cast<int>(parse_address(raw, a)) == static_cast<int>(AddressStatus::too_long));
}

BOOST_AUTO_TEST_CASE(null_sender_and_bare_name) {
    NormalizedAddress a;
    BOOST_REQUIRE(parse_address("<>", a) == AddressStatus::ok);
    BOOST_TEST(a.is_null());
    BOOST_TEST(!a.has_domain());
    BOOST_REQUIRE(parse_address("<postmaster>", a) == AddressStatus::ok);
    BOOST_TEST(!a.is_null());
    BOOST_TEST(!a.has_domain());
    BOOST_TEST(a.local() == "postmaster");
}

BOOST_AUTO_TEST_CASE(buffer_is_reused_between_addresses) {
    NormalizedAddress a;
    BOOST_REQUIRE(parse_address("<a-rather-long-local-part@some.example.com>", a) == AddressStatus::ok);
    const char* before = a.text().data();
    BOOST_REQUIRE(parse_address("<b@x.example>", a) == AddressStatus::ok);
    BOOST_TEST(a.text() == "b@x.example");
    BOOST_TEST(static_cast<const void*>(a.text().data()) == static_cast<const void*>(before));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(domain)

BOOST_AUTO_TEST_CASE(idn_u_and_a_labels_are_equal) {
    std::string u, a;
    BOOST_REQUIRE(canonical_domain("Bücher.EXAMPLE.", u) == DomainStatus::ok);
    BOOST_REQUIRE(canonical_domain("xn--bcher-kva.EXAMPLE", a) == DomainStatus::ok);
    BOOST_TEST(u == a);
    BOOST_TEST(u == "xn--bcher-kva.example");
}

// A U-label domain is taken only as its A-labels spell it back (what routectl postfix writes
// beside them, and Postfix looks a domain up as it came, folding case), up to case; every other
// spelling UTS #46 would fold into the same A-labels is refused, and canonical_spelling names
// the one to write.
BOOST_AUTO_TEST_CASE(idn_only_the_spelling_the_maps_hold) {
    struct Case {
        const char* in;
        const char* spelling;  // canonical_spelling: "" when taken as it is, or not a domain at all
    };
    const Case taken[] = {{"bücher.example", ""}, {"Bücher.EXAMPLE", ""}, {"straße.test", ""}, {"faß.de", ""},
                          {"xn--bcher-kva.example", ""}, {"dž.test", ""}, {"bücher.müller.test", ""},
                          {"B\xc3\x9c" "CHER.example", ""}, {"\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91.test", ""}};
    for (const Case& c : taken) {
        std::string out;
        BOOST_TEST((canonical_domain(c.in, out) == DomainStatus::ok), c.in);
        BOOST_TEST(canonical_spelling(c.in).empty(), c.in);
    }
    const Case refused[] = {
        {"bu\xcc\x88" "cher.example", "bücher.example"},                    // NFD: u + combining diaeresis
        {"BU\xcc\x88" "CHER.example", "bücher.example"},                   // NFD in upper case
        {"\xef\xbd\x82\xc3\xbc\x63her.example", "bücher.example"},      // fullwidth b
        {"b\xc3\xbc\x63her\xe3\x80\x82\x65xample", "bücher.example"},  // U+3002 as the dot
        {"b\xc3\xbc\xc2\xad\x63her.example", "bücher.example"},          // soft hyphen
        {"\xef\xac\x81x.test", "fix.test"},                              // the "fi" ligature: an ASCII domain
        {"\xc7\x85.test", "dž.test"},                                   // title-case Dž
        {"xn--bcher-kva.m\xc3\xbcller.test", "bücher.müller.test"},      // an A-label beside a U-label
        {"\xe2\x98\x83.net", ""},                                        // no IDN at all
        {"\xff.example", ""},
        {"\xe3\x80\x82", ""},                                            // U+3002 alone: no domain either way
    };
    for (const Case& c : refused) {
        std::string out = "left over";
        BOOST_TEST((canonical_domain(c.in, out) == DomainStatus::bad_idn), c.in);
        BOOST_TEST(out.empty(), c.in);
        BOOST_TEST(canonical_spelling(c.in) == c.spelling, c.in);
    }
    // libidn2 reads a C string: a NUL after a U-label must not cut the domain short there.
    static constexpr char with_nul[] = "b\xc3\xbc" "cher.example\0.evil.test";
    const std::string cut(with_nul, sizeof with_nul - 1);
    std::string out;
    BOOST_TEST((canonical_domain(cut, out) == DomainStatus::bad_idn));
    BOOST_TEST(canonical_spelling(cut).empty());
    // The refused spellings are no addresses either (the milter's RCPT parse).
    NormalizedAddress a;
    BOOST_TEST((parse_address("<leser@bu\xcc\x88" "cher.example>", a) == AddressStatus::bad_domain));
    BOOST_TEST((parse_address("<leser@b\xc3\xbc\x63her.example>", a) == AddressStatus::ok));
}

BOOST_AUTO_TEST_CASE(host_names) {
    BOOST_TEST(is_host_name("example.com"));
    BOOST_TEST(is_host_name("a-b.c1.example"));
    BOOST_TEST(is_host_name("localhost"));
    BOOST_TEST(!is_host_name(""));
    BOOST_TEST(!is_host_name("-a.example"));
    BOOST_TEST(!is_host_name("a-.example"));
    BOOST_TEST(!is_host_name("a..example"));
    BOOST_TEST(!is_host_name("a_b.example"));
    BOOST_TEST(!is_host_name(std::string(64, 'a') + ".example"));
    BOOST_TEST(is_host_name(std::string(63, 'a') + ".example"));
}

BOOST_AUTO_TEST_CASE(bad_idn_is_reported) {
    std::string out;
    BOOST_TEST(static_cast<int>(canonical_domain("\xff.example", out)) == static_cast<int>(DomainStatus::bad_idn));
    BOOST_TEST(static_cast<int>(canonical_domain(".", out)) == static_cast<int>(DomainStatus::empty));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(the_mtas_reading_is_judged_when_it_has_a_domain) {
    NormalizedAddress a;
    // Postfix: {rcpt_addr} is the plain address it queues, whatever the argument held.
    EnvelopeReading r = read_envelope_address("bob@backup.test", "<bob@backup.test;>", a);
    BOOST_TEST((r.status == AddressStatus::ok));
    BOOST_TEST(r.from_mta);
    BOOST_TEST(a.text() == "bob@backup.test");
    r = read_envelope_address("\"b o;b\"@Backup.Test", "<\"b o;b\"@backup.test (x)>", a);
    BOOST_TEST((r.status == AddressStatus::ok));
    BOOST_TEST(a.text() == "b o;b@backup.test");
    // The null sender: Postfix sends "", Sendmail "<>".
    for (const char* null : {"", "<>"}) {
        r = read_envelope_address(null, "<>", a);
        BOOST_TEST((r.status == AddressStatus::ok));
        BOOST_TEST(a.is_null());
        BOOST_TEST(r.from_mta);
    }
    // <postmaster> is qualified by the MTA but stays the bare postmaster of RFC 5321 4.5.1.
    r = read_envelope_address("postmaster@mx.lab.test", " <PostMaster> ", a);
    BOOST_TEST(r.bare_postmaster);
    BOOST_TEST(a.text() == "postmaster@mx.lab.test");
    r = read_envelope_address("postmaster@mx.lab.test", "<postmaster@mx.lab.test>", a);
    BOOST_TEST(!r.bare_postmaster);
}

BOOST_AUTO_TEST_CASE(an_unqualified_or_missing_reading_falls_back_to_the_strict_argument) {
    NormalizedAddress a;
    // Sendmail's local mailer: the user alone. No macro at all: an MTA that sends none.
    for (const char* mta : {static_cast<const char*>("bob"), static_cast<const char*>(nullptr)}) {
        EnvelopeReading r = read_envelope_address(mta, "<bob@backup.test>", a);
        BOOST_TEST((r.status == AddressStatus::ok));
        BOOST_TEST(!r.from_mta);
        BOOST_TEST(a.text() == "bob@backup.test");
        r = read_envelope_address(mta, "<bob@backup.test;>", a);
        BOOST_TEST((r.status == AddressStatus::special_character));
    }
    // The local mailer's user must be the argument's local part (any case, quoted or not).
    EnvelopeReading r = read_envelope_address("Bob", "<bob@backup.test>", a);
    BOOST_TEST((r.status == AddressStatus::ok));
    r = read_envelope_address("\"bob\"", "<\"bob\"@backup.test>", a);
    BOOST_TEST((r.status == AddressStatus::ok));
    r = read_envelope_address("bob", "<alice@backup.test>", a);
    BOOST_TEST((r.status == AddressStatus::mta_disagrees));
    BOOST_TEST(a.text().empty());
    r = read_envelope_address("bob", "<bob>", a);
    BOOST_TEST((r.status == AddressStatus::ok));
    BOOST_TEST(a.text() == "bob");
    // A reading the milter cannot parse is refused, never replaced by the argument's.
    for (const char* unreadable : {"bob@", "grp:bob@backup.test", "bob@far.test\\@own.test", "b(x)@own.test"}) {
        r = read_envelope_address(unreadable, "<bob@own.test>", a);
        BOOST_TEST((r.status != AddressStatus::ok), unreadable);
        BOOST_TEST(a.text().empty());
    }
}
