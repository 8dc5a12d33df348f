#define BOOST_TEST_DYN_LINK
#include "route_milter/hmailserver/password.hpp"

#include <boost/test/unit_test.hpp>

using namespace route_milter::hmailserver;

BOOST_AUTO_TEST_SUITE(hmailserver_password)

// The vectors were made with hMailServer's own BlowFish.cpp (hmailserver-facts.md section 8).
BOOST_AUTO_TEST_CASE(decrypts_hmailservers_vectors) {
    const std::pair<const char*, const char*> vectors[] = {
        {"a62b3c438efae3db", "secret"},
        {"bce5202db1309fe79e20b4b1796a8700", "hunter2pw"},
        {"d787a78e8b8876d3eb1151611d47304c1385ac82758c2988", "Pa55w0rd!longer-than-16"}};
    for (const auto& [hex, plain] : vectors) {
        const PasswordResult r = decrypt_password(hex);
        BOOST_REQUIRE_MESSAGE(r.password.has_value(), hex << ": " << r.error);
        BOOST_TEST(*r.password == plain);
        BOOST_TEST(encrypt_password(plain) == hex);
    }
}

BOOST_AUTO_TEST_CASE(upper_case_hex_and_empty) {
    BOOST_TEST(decrypt_password("A62B3C438EFAE3DB").password.value_or("?") == "secret");
    BOOST_TEST(decrypt_password("").password.value_or("?") == "");
    BOOST_TEST(encrypt_password("").empty());
}

BOOST_AUTO_TEST_CASE(round_trips_every_length) {
    std::string plain;
    for (int n = 1; n <= 40; ++n) {
        plain += static_cast<char>('!' + n);
        const std::string hex = encrypt_password(plain);
        BOOST_TEST(hex.size() == (plain.size() + 7) / 8 * 16);
        BOOST_TEST(decrypt_password(hex).password.value_or("?") == plain);
    }
}

BOOST_AUTO_TEST_CASE(wrong_encodings_are_refused_without_showing_them) {
    const PasswordResult short_one = decrypt_password("a62b3c438efae3");
    BOOST_TEST(!short_one.password.has_value());
    BOOST_TEST(short_one.error.find("14 hex digits") != std::string::npos, short_one.error);
    const PasswordResult not_hex = decrypt_password("a62b3c438efae3dz");
    BOOST_TEST(!not_hex.password.has_value());
    BOOST_TEST(not_hex.error.find("not hexadecimal") != std::string::npos, not_hex.error);
    BOOST_TEST(not_hex.error.find("a62b") == std::string::npos);
    BOOST_TEST(!decrypt_password("plain text pass!").password.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
