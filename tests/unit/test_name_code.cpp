#define BOOST_TEST_DYN_LINK
#include "route_milter/core/config.hpp"
#include "route_milter/core/decision.hpp"
#include "route_milter/core/delivery_class.hpp"
#include "route_milter/core/name_code.hpp"
#include "route_milter/core/rule_names.hpp"

#include <boost/test/unit_test.hpp>

#include <set>
#include <string>
#include <vector>

using namespace route_milter;

namespace {

// Every enumerator 0..count-1 has exactly one row, its name leads back to it, names are
// distinct and non-empty; unknown spellings (other case, blanks, empty) give nullopt.
template <class E, std::size_t N>
void check_both_ways(const NameCodeTable<E, N>& table, std::size_t count, const std::vector<std::string>& expected) {
    BOOST_TEST(table.in_order());
    BOOST_REQUIRE(N == count);
    BOOST_REQUIRE(expected.size() == count);
    std::set<std::string> seen;
    for (std::size_t i = 0; i < count; ++i) {
        const auto e = static_cast<E>(i);
        const std::string name(table.name(e));
        BOOST_TEST(name == expected[i]);
        BOOST_TEST(seen.insert(name).second, name);
        const auto back = table.code(name);
        BOOST_REQUIRE(back.has_value());
        BOOST_TEST(static_cast<std::size_t>(*back) == i);
        std::string upper = name;
        for (char& ch : upper) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
        BOOST_TEST(!table.code(upper).has_value(), upper);
        BOOST_TEST(!table.code(" " + name).has_value(), name);
        BOOST_TEST(!table.code(name + " ").has_value(), name);
    }
    BOOST_TEST(!table.code("").has_value());
    BOOST_TEST(!table.code("no-such-name").has_value());
    BOOST_TEST(table.name(static_cast<E>(count)) == "?");
    // choices() names every row, quoted, in order.
    std::string choices;
    for (const std::string& n : expected) choices += (choices.empty() ? "\"" : ", \"") + n + "\"";
    BOOST_TEST(table.choices() == choices);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(name_code)

BOOST_AUTO_TEST_CASE(scope) { check_both_ways(scope_names, 2, {"routes", "all"}); }

BOOST_AUTO_TEST_CASE(security) {
    check_both_ways(security_names, 4, {"none", "starttls", "starttls-required", "tls"});
    BOOST_TEST(name_of(Security::starttls_required) == "starttls-required");
}

BOOST_AUTO_TEST_CASE(deliver_to) {
    check_both_ways(deliver_to_names, 2, {"all", "listed"});
    BOOST_TEST(name_of(DeliverTo::listed) == "listed");
}

BOOST_AUTO_TEST_CASE(address_class) {
    check_both_ways(address_class_names, 2, {"local", "external"});
    BOOST_TEST(name_of(AddressClass::external) == "external");
    BOOST_TEST((parse_address_class("local") == AddressClass::local));
    BOOST_TEST(!parse_address_class("internal").has_value());
}

BOOST_AUTO_TEST_CASE(delivery_class) {
    check_both_ways(delivery_class_names, 4, {"local-local", "local-external", "external-local", "external-external"});
    BOOST_TEST(name_of(DeliveryClass::external_local) == "external-local");
    BOOST_TEST((parse_delivery_class("local-external") == DeliveryClass::local_external));
    BOOST_TEST(!parse_delivery_class("local").has_value());
}

BOOST_AUTO_TEST_CASE(rule) {
    check_both_ways(rule_names, 11,
                    {"out-of-scope", "no-objection", "bad-address", "not-listed", "not-allowed", "auth-required",
                     "bad-sender", "postmaster", "routed-address", "tls-required", "policy-unreadable"});
    // name_of(Rule) reads the same table.
    for (const auto& row : rule_names) BOOST_TEST(name_of(row.code) == row.name);
}

BOOST_AUTO_TEST_CASE(choices_with_a_last_separator) {
    BOOST_TEST(delivery_class_names.choices(" or ") ==
               "\"local-local\", \"local-external\", \"external-local\" or \"external-external\"");
    BOOST_TEST(scope_names.choices(" or ") == "\"routes\" or \"all\"");
    constexpr NameCodeTable<Scope, 1> one{{{{"routes", Scope::routes}}}};
    BOOST_TEST(one.choices(" or ") == "\"routes\"");
}

BOOST_AUTO_TEST_CASE(in_order_refuses_gaps_duplicates_and_empty_names) {
    constexpr NameCodeTable<Scope, 2> swapped{{{{"all", Scope::all}, {"routes", Scope::routes}}}};
    constexpr NameCodeTable<Scope, 2> twice{{{{"routes", Scope::routes}, {"routes", Scope::all}}}};
    constexpr NameCodeTable<Scope, 2> unnamed{{{{"routes", Scope::routes}, {"", Scope::all}}}};
    static_assert(!swapped.in_order() && !twice.in_order() && !unnamed.in_order());
    BOOST_TEST(!swapped.in_order());
}

BOOST_AUTO_TEST_SUITE_END()
