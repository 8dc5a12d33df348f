#define BOOST_TEST_DYN_LINK
#include "route_milter/core/ip_range.hpp"

#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <arpa/inet.h>

using namespace route_milter;

namespace {

IpAddress ip(const char* text) {
    auto a = parse_ip_address(text);
    BOOST_REQUIRE_MESSAGE(a.has_value(), text);
    return *a;
}

IpInterval cidr(const char* text) {
    auto r = parse_cidr(text);
    BOOST_REQUIRE_MESSAGE(std::holds_alternative<IpInterval>(r), text);
    return std::get<IpInterval>(r);
}

std::string error_of(const IntervalResult& r) {
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string("(no error)");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ip_range)

BOOST_AUTO_TEST_CASE(parses_and_prints_both_families) {
    BOOST_TEST(to_string(ip("192.0.2.1")) == "192.0.2.1");
    BOOST_TEST(to_string(ip("2001:DB8::1")) == "2001:db8::1");
    BOOST_TEST((ip("::ffff:192.0.2.1") == ip("192.0.2.1")));
    BOOST_TEST(!parse_ip_address("192.0.2.256").has_value());
    BOOST_TEST(!parse_ip_address("example.com").has_value());
    BOOST_TEST(!parse_ip_address("").has_value());
    BOOST_TEST(!parse_ip_address("1.2.3.4 ").has_value());
}

BOOST_AUTO_TEST_CASE(orders_numerically) {
    BOOST_TEST((ip("10.0.0.9") < ip("10.0.0.10")));
    BOOST_TEST((ip("2001:db8::9") < ip("2001:db8::10")));
}

BOOST_AUTO_TEST_CASE(cidr_blocks) {
    const IpInterval ten = cidr("10.0.0.0/8");
    BOOST_TEST(ten.contains(ip("10.255.255.255")));
    BOOST_TEST(ten.contains(ip("10.0.0.0")));
    BOOST_TEST(!ten.contains(ip("11.0.0.0")));
    BOOST_TEST(!ten.contains(ip("::a00:1")));  // other family
    const IpInterval all4 = cidr("0.0.0.0/0");
    BOOST_TEST(all4.contains(ip("255.255.255.255")));
    BOOST_TEST(all4.contains(ip("::ffff:1.2.3.4")));
    const IpInterval all6 = cidr("::/0");
    BOOST_TEST(all6.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    BOOST_TEST(!all6.contains(ip("1.2.3.4")));
    const IpInterval net6 = cidr("2001:db8::/32");
    BOOST_TEST(net6.contains(ip("2001:db8:ffff::1")));
    BOOST_TEST(!net6.contains(ip("2001:db9::")));
    const IpInterval half = cidr("2001:db8::/65");
    BOOST_TEST(half.contains(ip("2001:db8::7fff:ffff:ffff:ffff")));
    BOOST_TEST(!half.contains(ip("2001:db8::8000:0:0:0")));
    BOOST_TEST(cidr("192.0.2.7/32").contains(ip("192.0.2.7")));
    BOOST_TEST(!cidr("192.0.2.7/32").contains(ip("192.0.2.8")));
}

// Without a prefix length nothing is assumed: a host gets its /32 (/128) suggested, an address
// ending in zero groups the network length it looks like as well.
BOOST_AUTO_TEST_CASE(a_cidr_without_prefix_length_is_refused) {
    BOOST_TEST(error_of(parse_cidr("192.0.2.7")) == "no prefix length (192.0.2.7): write 192.0.2.7/32 for this one host");
    BOOST_TEST(error_of(parse_cidr("192.0.2.0")) ==
               "no prefix length (192.0.2.0): a network needs its length, e.g. 192.0.2.0/24; write 192.0.2.0/32 for "
               "this one host");
    BOOST_TEST(error_of(parse_cidr("10.0.0.0")).find("e.g. 10.0.0.0/8;") != std::string::npos);
    BOOST_TEST(error_of(parse_cidr("172.16.0.0")).find("e.g. 172.16.0.0/16;") != std::string::npos);
    BOOST_TEST(error_of(parse_cidr("0.0.0.0")).find("e.g. 0.0.0.0/0;") != std::string::npos);
    BOOST_TEST(error_of(parse_cidr("192.0.2.128")) ==
               "no prefix length (192.0.2.128): write 192.0.2.128/32 for this one host");
    BOOST_TEST(error_of(parse_cidr("2001:db8::1")) == "no prefix length (2001:db8::1): write 2001:db8::1/128 for this one host");
    BOOST_TEST(error_of(parse_cidr("2001:db8::")).find("e.g. 2001:db8::/32; write 2001:db8::/128") != std::string::npos);
    BOOST_TEST(error_of(parse_cidr("2001:db8:0:1::")).find("e.g. 2001:db8:0:1::/64;") != std::string::npos);
    BOOST_TEST(error_of(parse_cidr("::")).find("e.g. ::/0;") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_cidrs_say_why) {
    BOOST_TEST(error_of(parse_cidr("10.0.0.1/8")).find("did you mean 10.0.0.0/8") != std::string::npos);
    BOOST_TEST(error_of(parse_cidr("10.0.0.0/33")).find("0..32") != std::string::npos);
    BOOST_TEST(error_of(parse_cidr("10.0.0.0/")).find("0..32") != std::string::npos);
    BOOST_TEST(error_of(parse_cidr("10.0.0.0/8x")).find("(10.0.0.0/8x)") != std::string::npos);
    BOOST_TEST(error_of(parse_cidr("10.0.0/8")).find("not an IP address") != std::string::npos);
    BOOST_TEST(error_of(parse_cidr("::/129")).find("0..128") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(lower_upper_intervals) {
    auto r = make_interval("192.168.0.10", "192.168.0.20");
    BOOST_REQUIRE(std::holds_alternative<IpInterval>(r));
    BOOST_TEST(std::get<IpInterval>(r).contains(ip("192.168.0.15")));
    BOOST_TEST(!std::get<IpInterval>(r).contains(ip("192.168.0.21")));
    BOOST_TEST(error_of(make_interval("10.0.0.2", "10.0.0.1")).find("lower is above upper") != std::string::npos);
    BOOST_TEST(error_of(make_interval("10.0.0.1", "::1")).find("different IP families") != std::string::npos);
    BOOST_TEST(error_of(make_interval("10.0.0.x", "10.0.0.1")).find("(10.0.0.x)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(overlap) {
    BOOST_TEST(cidr("10.0.0.0/8").overlaps(cidr("10.1.0.0/16")));
    BOOST_TEST(!cidr("10.0.0.0/8").overlaps(cidr("11.0.0.0/8")));
    BOOST_TEST(!cidr("0.0.0.0/0").overlaps(cidr("::/0")));
}

BOOST_AUTO_TEST_CASE(from_sockaddr) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    inet_pton(AF_INET, "198.51.100.7", &in.sin_addr);
    auto a = ip_address_from_sockaddr(reinterpret_cast<sockaddr*>(&in));
    BOOST_REQUIRE(a.has_value());
    BOOST_TEST(to_string(*a) == "198.51.100.7");
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:198.51.100.7", &in6.sin6_addr);
    auto mapped = ip_address_from_sockaddr(reinterpret_cast<sockaddr*>(&in6));
    BOOST_REQUIRE(mapped.has_value());
    BOOST_TEST((*mapped == *a));
    BOOST_TEST(!ip_address_from_sockaddr(nullptr).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ip_range_cidr)

// to_cidr spells an interval as a CIDR block only when it is exactly one (routectl show).
BOOST_AUTO_TEST_CASE(to_cidr_round_trips_blocks_only) {
    for (const char* cidr : {"10.0.0.0/8", "192.0.2.7/32", "0.0.0.0/0", "2001:db8::/32", "::/0", "::1/128",
                             "2001:db8:0:1::/64", "2001:db8::/65"}) {
        const auto parsed = parse_cidr(cidr);
        BOOST_REQUIRE_MESSAGE(std::holds_alternative<IpInterval>(parsed), cidr);
        const auto back = to_cidr(std::get<IpInterval>(parsed));
        BOOST_REQUIRE_MESSAGE(back.has_value(), cidr);
        BOOST_TEST(*back == cidr);
    }
    const auto odd = make_interval("10.0.0.5", "10.0.0.9");
    BOOST_REQUIRE(std::holds_alternative<IpInterval>(odd));
    BOOST_TEST(!to_cidr(std::get<IpInterval>(odd)).has_value());
    const auto almost = make_interval("10.0.0.0", "10.0.0.254");
    BOOST_TEST(!to_cidr(std::get<IpInterval>(almost)).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
