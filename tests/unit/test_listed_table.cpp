// ListedKeys and table_file: a table's listed-address lines, streamed from the address store,
// must be the bytes one sorted std::map of all its lines gives (the oracle here).
#define BOOST_TEST_DYN_LINK
#include "route_milter/core/listed_table.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <random>

using namespace route_milter;

namespace {

using Lines = std::vector<std::pair<std::string, std::string>>;

// What the generators wrote before streaming: every key into one std::map, first one wins.
std::string oracle(const std::string& header, const Lines& others, const std::vector<std::string>& listed_keys,
                   const std::string& value) {
    std::map<std::string, std::string> all(others.begin(), others.end());
    for (const std::string& k : listed_keys) all.emplace(k, value);
    std::string out = header;
    for (const auto& [k, v] : all) out += k + "\t" + v + "\n";
    return out;
}

ListedAddresses store(const std::vector<std::string>& addresses) {
    ListedAddresses listed;
    for (const std::string& a : addresses) listed.add(a, 0, 1, 0);
    return listed;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(listed_table)

BOOST_AUTO_TEST_CASE(merges_with_the_other_lines_in_string_order) {
    const ListedAddresses listed = store({"z@x.test", "a@x.test", "m@x.test", "b@x.test", "b@x.test", "a.b@x.test"});
    ListedKeys keys(listed, "");
    for (const ListedAddresses::Record& r : listed.records()) keys.add(r);
    keys.sort();
    // "m@x.test" is both: written once, with the other line's value (a std::map keeps the first).
    const Lines others{{"@x.test", "OK"}, {"m@x.test", "OTHER"}, {"zz", "LAST"}};
    const RenderedFile f = table_file("t", "# head\n", others, std::move(keys), "OK", 0600, true);
    BOOST_TEST(f.name == "t");
    BOOST_TEST(f.mode == 0600u);
    BOOST_TEST(f.compile_map);
    BOOST_TEST(f.content.empty());
    BOOST_TEST(content_of(f) == "# head\n@x.test\tOK\na.b@x.test\tOK\na@x.test\tOK\nb@x.test\tOK\nm@x.test\tOTHER\n"
                                "z@x.test\tOK\nzz\tLAST\n");
    BOOST_TEST(content_of(f) == content_of(f));  // each call generates the same bytes
}

BOOST_AUTO_TEST_CASE(prefix_and_domain_spellings) {
    const ListedAddresses listed = store({"hans@xn--bcher-kva.test", "anna@xn--bcher-kva.test", "hans@plain.test"});
    ListedKeys keys(listed, "To:");
    for (const ListedAddresses::Record& r : listed.records()) {
        keys.add(r);
        if (listed.text(r).find("xn--") != std::string_view::npos) keys.add(r, "bücher.test");
    }
    keys.sort();
    BOOST_TEST(keys.size() == 5u);
    BOOST_TEST(keys.contains("To:hans@bücher.test"));
    BOOST_TEST(keys.contains("To:anna@xn--bcher-kva.test"));
    BOOST_TEST(!keys.contains("hans@bücher.test"));  // without the prefix
    BOOST_TEST(!keys.contains("To:hans@bücher.tes"));
    BOOST_TEST(!keys.contains("To:otto@bücher.test"));
    const Lines others{{"To:bücher.test", "RELAY"}, {"To:.plain.test", "SKIP"}};
    const std::string expected = oracle("", others,
                                        {"To:hans@xn--bcher-kva.test", "To:hans@bücher.test", "To:anna@xn--bcher-kva.test",
                                         "To:anna@bücher.test", "To:hans@plain.test"},
                                        "RELAY");
    BOOST_TEST(content_of(table_file("access", "", others, std::move(keys), "RELAY", 0644, true)) == expected);
}

// Random keys with bytes above 0x7f (UTF-8 local parts, U-labels): the order is std::string's
// (unsigned bytes) across chunk boundaries, and duplicates are written once.
BOOST_AUTO_TEST_CASE(random_keys_match_the_sorted_map_across_chunks) {
    std::mt19937 rng(14);
    const std::string alphabet = "ab.-_09@\xC3\xBC\xE2\x82\xAC";
    std::vector<std::string> addresses;
    for (int i = 0; i < 20000; ++i) {
        std::string local;
        for (int n = 1 + static_cast<int>(rng() % 12); n > 0; --n) local += alphabet[rng() % (alphabet.size() - 1)];
        addresses.push_back(local + "@d" + std::to_string(rng() % 5) + ".test");
    }
    addresses.push_back(addresses[7]);  // listed twice
    const ListedAddresses listed = store(addresses);
    ListedKeys keys(listed, "");
    std::vector<std::string> expected_keys;
    for (const ListedAddresses::Record& r : listed.records()) {
        keys.add(r);
        expected_keys.emplace_back(listed.text(r));
        if (r.offset % 3 == 0) {
            keys.add(r, "d\xC3\xBC.test");
            const std::string_view a = listed.text(r);
            expected_keys.push_back(std::string(a.substr(0, a.rfind('@') + 1)) + "d\xC3\xBC.test");
        }
    }
    keys.sort();
    const Lines others{{"@d1.test", "OK"}, {"\xC3\xBC@d1.test", "OK"}, {"a@d1.test", "OK"}};
    const RenderedFile f = table_file("t", "# h\n", others, std::move(keys), "OK", 0644, false);
    std::vector<std::size_t> chunks;
    std::string streamed;
    BOOST_TEST(stream_content(f, [&](std::string_view c) {
        chunks.push_back(c.size());
        streamed += c;
        return true;
    }));
    BOOST_TEST(streamed == oracle("# h\n", others, expected_keys, "OK"));
    BOOST_TEST(chunks.size() > 2u);
    for (const std::size_t c : chunks) BOOST_TEST(c <= 64u * 1024 + 1024);

    std::size_t calls = 0;  // a sink that has seen enough stops the generator
    BOOST_TEST(!stream_content(f, [&](std::string_view) { return ++calls > 1000; }));
    BOOST_TEST(calls == 1u);
}

BOOST_AUTO_TEST_CASE(no_listed_keys_and_plain_content) {
    const ListedAddresses listed;
    ListedKeys keys(listed, "");
    keys.sort();
    BOOST_TEST(!keys.contains("a@b"));
    BOOST_TEST(content_of(table_file("t", "# h\n", {}, std::move(keys), "OK", 0644, true)) == "# h\n");
    const RenderedFile plain{"p", "bytes\n", 0644, false};
    BOOST_TEST(content_of(plain) == "bytes\n");
    std::size_t calls = 0;
    BOOST_TEST(stream_content(RenderedFile{"e", "", 0644, false}, [&](std::string_view) { return ++calls > 0; }));
    BOOST_TEST(calls == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
