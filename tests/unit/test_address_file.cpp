// Address files (addresses_file): the reader, the loader's use of it, and the compact store.
#define BOOST_TEST_DYN_LINK
#include "route_milter/config/address_file.hpp"
#include "route_milter/config/config_digest.hpp"
#include "route_milter/config/load_policy.hpp"
#include "route_milter/core/listed_addresses.hpp"
#include "route_milter/core/printable.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <unistd.h>

using namespace route_milter;
using testing::ConfigDir;

namespace {

std::string rule_for(const Policy& p, const char* to) {
    return std::string(name_of(p.decide(Query{parse_ip_address("203.0.113.5"), false, "<a@far.example>", to}).rule));
}

const char* const two_routes =
    "routes = (\n"
    "  { domain = \"a.example\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n"
    "    addresses = [ \"inline@a.example\" ];\n"
    "    addresses_file = \"a.list\"; },\n"
    "  { domain = \"b.example\"; deliver_to = \"listed\"; addresses_file = \"lists/b.list\"; }\n"
    ");\n";

std::string text_of(const Diagnostics& errors) {
    std::string out;
    for (const Diagnostic& d : errors) out += format_diagnostic(d) + "\n";
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(address_file)

BOOST_AUTO_TEST_CASE(reader_gives_the_same_result_however_the_file_is_cut) {
    const std::string text =
        "# exported nightly\n\nAlice@A.example\r\n  \"john doe\"@a.example  \n\tbob@a.example\n"
        "x@b.example\nnobody\n" + std::string(5000, 'y') + "@a.example\nlast@a.example";
    const auto pattern = std::get<RoutePattern>(RoutePattern::parse("a.example"));
    ListedAddresses whole_store;
    AddressFileReader whole(whole_store, 0, pattern, 1, "a.list");
    whole.feed(text);
    whole.finish();
    for (const std::size_t piece : {1u, 2u, 3u, 7u, 64u, 4097u}) {
        ListedAddresses store;
        AddressFileReader cut(store, 0, pattern, 1, "a.list");
        for (std::size_t at = 0; at < text.size(); at += piece) cut.feed(std::string_view(text).substr(at, piece));
        cut.finish();
        BOOST_TEST(cut.count() == whole.count(), piece);
        BOOST_TEST(text_of(cut.errors()) == text_of(whole.errors()), piece);
        BOOST_REQUIRE(store.record_count() == whole_store.record_count());
        for (std::size_t i = 0; i < store.record_count(); ++i) {
            BOOST_TEST(store.text(store.records()[i]) == whole_store.text(whole_store.records()[i]));
            BOOST_TEST(store.records()[i].line == whole_store.records()[i].line);
        }
    }
    BOOST_TEST(whole.count() == 4u);
    BOOST_TEST(whole_store.text(whole_store.records()[0]) == "alice@a.example");
    BOOST_TEST(whole_store.text(whole_store.records()[1]) == "john doe@a.example");
    BOOST_TEST(whole_store.records()[1].line == 4u);
    BOOST_TEST(whole_store.text(whole_store.records()[3]) == "last@a.example");
    BOOST_TEST(whole_store.records()[3].line == 9u);
    const std::string e = text_of(whole.errors());
    BOOST_TEST(e.find("a.list:6: address outside the route's domain a.example (\"x@b.example\")") != std::string::npos, e);
    BOOST_TEST(e.find("a.list:7: not local@domain (\"nobody\")") != std::string::npos, e);
    BOOST_TEST(e.find("a.list:8: line too long (more than 4096 bytes) (\"yyy") != std::string::npos, e);
    BOOST_TEST(whole.errors().size() == 3u, e);
}

BOOST_AUTO_TEST_CASE(files_are_read_next_to_the_config_and_decide_like_inline_addresses) {
    const ConfigDir d;
    BOOST_REQUIRE(mkdir((d.path + "/lists").c_str(), 0755) == 0);
    d.write("a.list", "# a.example\nfile@a.example\nMiXed@A.EXAMPLE\n", 0644);  // world-readable: no secret
    d.write("lists/b.list", "b1@b.example\n\nb2@b.example\n", 0644);
    const std::string main = d.write("main.conf", two_routes);
    const PolicyResult r = load_policy_file(main);
    BOOST_REQUIRE_MESSAGE(r.policy != nullptr, testing::errors_text(r));
    const Policy& p = *r.policy;
    BOOST_TEST(p.listed_address_count() == 5u);
    BOOST_TEST(p.route(0).record.listed_count == 3u);
    BOOST_TEST(p.route(1).record.listed_count == 2u);
    BOOST_TEST(rule_for(p, "<inline@a.example>") == "no-objection");
    BOOST_TEST(rule_for(p, "<FILE@a.example>") == "no-objection");
    BOOST_TEST(rule_for(p, "<mixed@a.example>") == "no-objection");
    BOOST_TEST(rule_for(p, "<other@a.example>") == "not-listed");
    BOOST_TEST(rule_for(p, "<b2@b.example>") != "not-listed");
    BOOST_TEST(rule_for(p, "<b3@b.example>") == "not-listed");
    const CompiledConfig compiled = compile_config_file(main);
    BOOST_REQUIRE_MESSAGE(compiled.config.has_value(), testing::errors_text(compiled));
    const Config& c = *compiled.config;
    BOOST_REQUIRE(c.routes[0].addresses_file.has_value());
    const AddressFile& a = *c.routes[0].addresses_file;
    BOOST_TEST(a.count == 2u);
    BOOST_TEST(a.line == 4u);
    BOOST_TEST(c.files.at(a.file) == d.path + "/a.list");
    BOOST_REQUIRE(c.routes[1].addresses_file.has_value());
    BOOST_TEST(c.routes[1].addresses_file->count == 2u);
}

BOOST_AUTO_TEST_CASE(every_problem_of_every_file_comes_in_one_report) {
    const ConfigDir d;
    BOOST_REQUIRE(mkdir((d.path + "/lists").c_str(), 0755) == 0);
    d.write("a.list", "ok@a.example\nINLINE@a.example\n\"open@a.example\nb@b.example\n", 0620);
    const std::string main = d.write("main.conf", std::string(two_routes) + "mode = \"nonsense\";\n");
    const PolicyResult r = load_policy_file(main);
    BOOST_TEST(r.policy == nullptr);
    const std::string e = testing::errors_text(r);
    const std::string a = d.path + "/a.list";
    BOOST_TEST(e.find(a + ":2: routes: address listed twice, also under a.example (" + main + ":2) (\"inline@a.example\")") !=
                   std::string::npos, e);
    BOOST_TEST(e.find(a + ":3: unbalanced quote (\"\"open@a.example\")") != std::string::npos, e);
    BOOST_TEST(e.find(a + ":4: address outside the route's domain a.example (\"b@b.example\")") != std::string::npos, e);
    BOOST_TEST(e.find(a + ": group or other users can write it; run chmod go-w (mode 0620)") != std::string::npos, e);
    // The missing file is an error of the line that names it.
    BOOST_TEST(e.find(main + ":5: routes[1].addresses_file: cannot read the file (No such file or directory) "
                             "(\"lists/b.list\", " + d.path + "/lists/b.list)") != std::string::npos, e);
    BOOST_TEST(e.find(main + ":7: mode: must be one of") != std::string::npos, e);
    BOOST_TEST(r.errors.size() == 6u, e);
}

BOOST_AUTO_TEST_CASE(an_empty_file_a_directory_and_deliver_all_are_refused) {
    const ConfigDir d;
    BOOST_REQUIRE(mkdir((d.path + "/adir").c_str(), 0755) == 0);
    d.write("empty.list", "# nothing exported tonight\n");
    d.write("c.list", "x@c.example\n");
    const std::string main = d.write("main.conf",
                                     "routes = (\n"
                                     "  { domain = \"a.example\"; deliver_to = \"listed\"; addresses_file = \"empty.list\"; },\n"
                                     "  { domain = \"b.example\"; deliver_to = \"listed\"; addresses_file = \"adir\"; },\n"
                                     "  { domain = \"c.example\"; addresses_file = \"c.list\"; },\n"
                                     "  { domain = \"d.example\"; deliver_to = \"listed\"; addresses_file = \"\"; }\n"
                                     ");\n");
    const PolicyResult r = load_policy_file(main);
    const std::string e = testing::errors_text(r);
    BOOST_TEST(e.find(main + ":2: routes[0]: deliver_to = \"listed\" but no addresses are listed (a.example; " + d.path +
                      "/empty.list holds none)") != std::string::npos, e);
    BOOST_TEST(e.find(main + ":3: routes[1].addresses_file: not a regular file (a directory)") != std::string::npos, e);
    BOOST_TEST(e.find(main + ":4: routes[2].addresses_file: addresses are listed but deliver_to is \"all\"") !=
                   std::string::npos, e);
    BOOST_TEST(e.find(main + ":5: routes[3].addresses_file: must not be empty") != std::string::npos, e);
    BOOST_TEST(r.errors.size() == 4u, e);
}

// The config digest covers the address files, streamed: sha256 over sha256(main) sha256(list).
BOOST_AUTO_TEST_CASE(digest_covers_address_files) {
    const ConfigDir d;
    const std::string list = "x@a.example\n" + std::string(100000, '#') + "\ny@a.example\n";  // several chunks
    d.write("a.list", list);
    const std::string main_text = "routes = ( { domain = \"a.example\"; deliver_to = \"listed\"; addresses_file = \"a.list\"; } );\n";
    const std::string main = d.write("main.conf", main_text);
    const ConfigResult first = load_config_file(main);
    BOOST_REQUIRE_MESSAGE(first.config.has_value(), testing::errors_text(first));
    const std::vector<Sha256> files{sha256_of(main_text), sha256_of(list)};
    BOOST_TEST(first.config->digest == config_digest(files));
    d.write("a.list", "x@a.example\n");
    const ConfigResult changed = load_config_file(main);
    BOOST_REQUIRE_MESSAGE(changed.config.has_value(), testing::errors_text(changed));
    BOOST_TEST(changed.config->digest != first.config->digest);
}

// Records read late (a route's file, after every inline list) go back into route order; an
// address listed twice, by one route or two, is reported from its second record, naming the first.
BOOST_AUTO_TEST_CASE(store_puts_late_records_in_route_order_and_reports_duplicates) {
    ListedAddresses store;
    store.add("a@one", 0, 1, 0);
    store.add("b@two", 1, 2, 0);
    store.add("c@one", 0, 1, 1);  // from route 0's file, read after every inline list
    store.add("a@one", 1, 2, 1);
    store.add("a@one", 0, 3, 1);
    std::vector<std::string> duplicates;
    store.index([&](const ListedAddresses::Record& r, const ListedAddresses::Record& first) {
        duplicates.push_back(std::string(store.text(r)) + ":" + std::to_string(r.route) + ":" + std::to_string(r.line) +
                             " first " + std::to_string(first.route) + ":" + std::to_string(first.line));
    });
    BOOST_TEST(store.indexed());
    const std::vector<std::string> expected = {"a@one:0:3 first 0:1", "a@one:1:2 first 0:1"};
    BOOST_TEST(duplicates == expected, boost::test_tools::per_element());
    BOOST_TEST(store.of_route(0).size() == 3u);
    BOOST_TEST(store.text(store.of_route(0)[1]) == "c@one");
    BOOST_TEST(store.of_route(1).size() == 2u);
    BOOST_TEST(store.text(store.of_route(1)[1]) == "a@one");
    BOOST_TEST(store.of_route(2).empty());
    BOOST_REQUIRE(store.find("a@one") != nullptr);
    BOOST_TEST(store.find("a@one")->route == 0u);
    BOOST_TEST(store.find("a@one")->line == 1u);
    BOOST_REQUIRE(store.find("b@two") != nullptr);
    BOOST_TEST(store.find("b@two")->route == 1u);
    BOOST_REQUIRE(store.find("c@one") != nullptr);
    BOOST_TEST(store.find("c@one")->file == 1u);
    BOOST_TEST(store.find("x@one") == nullptr);
    BOOST_TEST(store.find("a@on") == nullptr);
}

// Whoever writes a list reads the daemon's log: an error shows the first word of its line (cut,
// control characters escaped), never the rest, and only the first few bad lines of a file.
BOOST_AUTO_TEST_CASE(errors_show_the_first_word_of_a_line_and_a_few_lines_of_a_file) {
    const auto pattern = std::get<RoutePattern>(RoutePattern::parse("a.example"));
    ListedAddresses store;
    AddressFileReader reader(store, 0, pattern, 1, "a.list");
    std::string text =
        "ok@a.example\n"
        "nobody password=Hunter2-secret\n"                                   // 2: more after the word
        "\"john doe\"@b.example and-the-rest\n"                              // 3: a quoted blank is in the word
        "root:$6$SaltSalt$" + std::string(200, 'H') + ":19000:0:99999:7:::\n"  // 4: cut at 64 bytes
        "\x1b[2J\x1b]0;owned\x07@a.example\n"                              // 5: a terminal's escapes
        "x@\xc2\x85" "a.example\n"                                           // 6: NEL
        "\t \"unbalanced@a.example rest\n";                                  // 7: the word runs to the end
    for (int i = 0; i < 20; ++i) text += "bad" + std::to_string(i) + " hidden-" + std::to_string(i) + "\n";
    reader.feed(text);
    reader.finish();
    const std::string e = text_of(reader.errors());
    BOOST_TEST(reader.count() == 1u);
    BOOST_TEST(e.find("a.list:2: ") != std::string::npos, e);
    BOOST_TEST(e.find(" (\"nobody\", then more on the line)") != std::string::npos, e);
    BOOST_TEST(e.find("a.list:3: ") != std::string::npos, e);
    BOOST_TEST(e.find(" (\"\"john doe\"@b.example\", then more on the line)") != std::string::npos, e);
    BOOST_TEST(e.find("a.list:4: ") != std::string::npos, e);
    BOOST_TEST(e.find("(\"root:$6$SaltSalt$" + std::string(64 - 17, 'H') + "...\")") != std::string::npos, e);
    BOOST_TEST(e.find("a.list:5: ") != std::string::npos, e);
    BOOST_TEST(e.find("(\"\\x1b[2J\\x1b]0;owned\\x07@a.example\")") != std::string::npos, e);
    BOOST_TEST(e.find("(\"x@\\xc2\\x85a.example\")") != std::string::npos, e);
    BOOST_TEST(e.find("a.list:7: unbalanced quote (\"\"unbalanced@a.example rest\")") != std::string::npos, e);
    for (const char* secret : {"Hunter2", "and-the-rest", ":19000", "\x1b", "\x07", "\xc2\x85", "hidden"})
        BOOST_TEST(e.find(secret) == std::string::npos, secret << " in\n" << e);
    // 6 bad lines above and 20 below: the first 10 (to line 11), then one line for the rest.
    BOOST_REQUIRE(reader.errors().size() == max_shown_errors + 1);
    BOOST_TEST(reader.errors()[9].line == 11u);
    BOOST_TEST(format_diagnostic(reader.errors().back()) ==
                   "a.list:12: and 16 more bad lines from here on, not shown (a file's first 10 are)", e);
}

// Files saved on Windows: a byte-order mark begins the file, not its first address, and CRLF
// line ends are line ends; a mark anywhere else is an error of its line, not part of an address.
BOOST_AUTO_TEST_CASE(a_byte_order_mark_and_crlf_lines_are_read_as_windows_writes_them) {
    const auto pattern = std::get<RoutePattern>(RoutePattern::parse("a.example"));
    const std::string bom = "\xEF\xBB\xBF";
    struct Case {
        std::string text;
        std::vector<std::string> listed;
        std::string errors;
    };
    const std::vector<Case> cases = {
        {bom + "alice@a.example\r\nbob@a.example\r\n", {"alice@a.example", "bob@a.example"}, ""},
        {bom + "# exported\r\n\r\nalice@a.example", {"alice@a.example"}, ""},
        {bom, {}, ""},
        {bom + "\r\n", {}, ""},
        {bom + " \talice@a.example \r", {"alice@a.example"}, ""},
        {"alice@a.example\r\n" + bom + "bob@a.example\r\ncarol@a.example\r\n", {"alice@a.example", "carol@a.example"},
         "a.list:2: a byte-order mark (U+FEFF) inside the file: only the file may begin with one (\"\\xef\\xbb\\xbfbob"},
        {"alice" + bom + "@a.example\n", {},
         "a.list:1: a byte-order mark (U+FEFF) inside the file: only the file may begin with one"},
        {bom + bom + "alice@a.example\n", {}, "a.list:1: a byte-order mark (U+FEFF) inside the file"},
        {"alice@a.example\rbob@a.example\r\n", {}, "a.list:1: "},  // a lone CR is no line end
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT(printable(c.text)) {
            for (std::size_t cut = 0; cut <= c.text.size(); ++cut) {  // however it is read
                ListedAddresses store;
                AddressFileReader reader(store, 0, pattern, 1, "a.list");
                reader.feed(std::string_view(c.text).substr(0, cut));
                reader.feed(std::string_view(c.text).substr(cut));
                reader.finish();
                std::vector<std::string> listed;
                for (const ListedAddresses::Record& r : store.records()) listed.emplace_back(store.text(r));
                BOOST_TEST(listed == c.listed, "cut at " << cut);
                const std::string e = text_of(reader.errors());
                if (c.errors.empty()) BOOST_TEST(e.empty(), "cut at " << cut << ": " << e);
                else BOOST_TEST(e.find(c.errors) != std::string::npos, "cut at " << cut << ": " << e);
            }
        }
    }
    // Through the loader: the first address of a Windows file is listed.
    const ConfigDir d;
    d.write("a.list", bom + "alice@a.example\r\nbob@a.example\r\n", 0644);
    const std::string main = d.write("main.conf", "routes = ( { domain = \"a.example\"; treat_recipient_as = \"local\";\r\n"
                                                  "  deliver_to = \"listed\"; addresses_file = \"a.list\"; } );\r\n");
    const PolicyResult r = load_policy_file(main);
    BOOST_REQUIRE_MESSAGE(r.policy != nullptr, testing::errors_text(r));
    BOOST_TEST(rule_for(*r.policy, "<alice@a.example>") == "no-objection");
    BOOST_TEST(rule_for(*r.policy, "<bob@a.example>") == "no-objection");
    BOOST_TEST(rule_for(*r.policy, "<carol@a.example>") == "not-listed");
}

BOOST_AUTO_TEST_SUITE_END()
