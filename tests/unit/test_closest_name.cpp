// closest_name.hpp: "did you mean" only when a known name is near enough to be the one meant.
#define BOOST_TEST_DYN_LINK
#include "route_milter/core/closest_name.hpp"

#include <boost/test/unit_test.hpp>

#include <array>
#include <string>

using namespace route_milter;

namespace {

const std::array<std::string_view, 8> route_names{"domain", "host", "port", "security", "tls_verify", "deliver_to",
                                                  "addresses", "addresses_file"};

std::string meant(std::string_view written) { return std::string(closest_name(written, route_names).value_or("-")); }

}  // namespace

BOOST_AUTO_TEST_SUITE(closest_name_suite)

BOOST_AUTO_TEST_CASE(near_misspellings_find_the_name) {
    BOOST_TEST(meant("hots") == "host");              // two letters swapped
    BOOST_TEST(meant("prt") == "port");               // one left out
    BOOST_TEST(meant("domian") == "domain");
    BOOST_TEST(meant("securty") == "security");
    BOOST_TEST(meant("tls_verfy") == "tls_verify");
    BOOST_TEST(meant("deliver-to") == "deliver_to");  // '-' for '_'
    BOOST_TEST(meant("adresses") == "addresses");     // nearer to addresses than to addresses_file
    BOOST_TEST(meant("address_file") == "addresses_file");
    BOOST_TEST(meant("DOMAIN") == "domain");          // case alone
}

BOOST_AUTO_TEST_CASE(far_names_and_exact_ones_get_none) {
    BOOST_TEST(meant("colour") == "-");
    BOOST_TEST(meant("mx") == "-");
    BOOST_TEST(meant("hsat") == "-");   // short: two edits are too many
    BOOST_TEST(meant("") == "-");
    BOOST_TEST(meant("host") == "-");   // known: nothing to suggest
    BOOST_TEST(!closest_name("host", {}).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
