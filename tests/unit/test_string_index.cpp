#define BOOST_TEST_DYN_LINK
#include "route_milter/core/string_index.hpp"

#include <boost/test/unit_test.hpp>

using namespace route_milter;

BOOST_AUTO_TEST_SUITE(string_index)

BOOST_AUTO_TEST_CASE(finds_what_was_inserted_across_growth) {
    StringIndex index;
    for (std::uint32_t i = 0; i < 5000; ++i) BOOST_TEST(index.insert("key" + std::to_string(i), i) == nullptr);
    BOOST_TEST(index.size() == 5000u);
    for (std::uint32_t i = 0; i < 5000; ++i) {
        const std::uint32_t* v = index.find("key" + std::to_string(i));
        BOOST_REQUIRE(v != nullptr);
        BOOST_TEST(*v == i);
    }
    BOOST_TEST(index.find("key5000") == nullptr);
    BOOST_TEST(index.find("") == nullptr);
}

BOOST_AUTO_TEST_CASE(duplicate_insert_keeps_first_value) {
    StringIndex index;
    BOOST_TEST(index.insert("a", 1) == nullptr);
    const std::uint32_t* existing = index.insert("a", 2);
    BOOST_REQUIRE(existing != nullptr);
    BOOST_TEST(*existing == 1u);
    BOOST_TEST(index.size() == 1u);
}

BOOST_AUTO_TEST_CASE(empty_index_finds_nothing) {
    const StringIndex index;
    BOOST_TEST(index.find("anything") == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
