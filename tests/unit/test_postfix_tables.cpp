#define BOOST_TEST_DYN_LINK
#include "route_milter/postfix/postfix_tables.hpp"
#include "route_milter/postfix/postmap_reading.hpp"

#include <boost/test/unit_test.hpp>

#include <cdb.h>
#include <fcntl.h>
#include <lmdb.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

using namespace route_milter;
using namespace std::string_literals;

namespace {

struct Read {
    std::vector<std::tuple<std::string, std::string, unsigned>> entries;  // key, value, line
    std::vector<std::string> warnings;
};

// The text fed in pieces of `piece` bytes (0: whole).
Read read(std::string_view text, bool utf8, std::size_t piece = 0) {
    Read out;
    PostmapReader reader(utf8);
    const PostmapEntrySink sink = [&](const PostmapEntry& e) {
        out.entries.emplace_back(std::string(e.key), std::string(e.value), e.line);
        return true;
    };
    if (piece == 0) piece = text.size() + 1;
    for (std::size_t at = 0; at < text.size(); at += piece) BOOST_REQUIRE(reader.feed(text.substr(at, piece), sink));
    BOOST_REQUIRE(reader.finish(sink));
    out.warnings = reader.warnings();
    return out;
}

std::string folded(std::string_view key, bool utf8) {
    std::string out;
    fold_postfix_key(key, utf8, out);
    return out;
}

// A private directory, removed with what is in it.
struct Scratch {
    std::filesystem::path dir;
    Scratch() {
        std::string t = (std::filesystem::temp_directory_path() / "postfix-tables-XXXXXX").string();
        BOOST_REQUIRE(::mkdtemp(t.data()) != nullptr);
        dir = t;
    }
    ~Scratch() { std::filesystem::remove_all(dir); }
    std::string path(const char* name) const { return (dir / name).string(); }
};

// The text as a table's source file in the scratch directory; its path.
std::string table(const Scratch& s, const std::string& text) {
    static int n = 0;
    const std::string path = s.path(("table" + std::to_string(++n)).c_str());
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

// The value, or "<none>".
std::string cdb_lookup(const std::string& path, std::string_view key) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    BOOST_REQUIRE(fd >= 0);
    struct cdb db {};
    BOOST_REQUIRE(cdb_init(&db, fd) == 0);
    std::string value = "<none>";
    if (cdb_find(&db, key.data(), static_cast<unsigned>(key.size())) > 0) {
        value.assign(cdb_datalen(&db), '\0');
        BOOST_REQUIRE(cdb_read(&db, value.data(), cdb_datalen(&db), cdb_datapos(&db)) == 0);
    }
    cdb_free(&db);
    ::close(fd);
    return value;
}

// Every entry of an LMDB table opened as Postfix opens it: key -> value, NULs included.
std::map<std::string, std::string> lmdb_entries(const std::string& path) {
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    MDB_cursor* cursor = nullptr;
    BOOST_REQUIRE(mdb_env_create(&env) == 0);
    BOOST_REQUIRE(mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_NOLOCK | MDB_RDONLY, 0644) == 0);
    BOOST_REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
    BOOST_REQUIRE(mdb_dbi_open(txn, nullptr, 0, &dbi) == 0);
    BOOST_REQUIRE(mdb_cursor_open(txn, dbi, &cursor) == 0);
    std::map<std::string, std::string> out;
    MDB_val k{}, v{};
    for (int op = MDB_FIRST; mdb_cursor_get(cursor, &k, &v, static_cast<MDB_cursor_op>(op)) == 0; op = MDB_NEXT)
        out.emplace(std::string(static_cast<const char*>(k.mv_data), k.mv_size),
                    std::string(static_cast<const char*>(v.mv_data), v.mv_size));
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(postmap_reading)

BOOST_AUTO_TEST_CASE(lines_keys_and_values_as_postmap_reads_them) {
    const std::string text =
        "# header\n"
        "\n"
        "Example.COM\tsmtp:[mx]:25  \r\n"        // key folded, value trimmed (the \r too)
        "\"john doe\"@x.test OK\n"               // blanks inside quotes stay in the key
        "a\\ b@x.test\tOK\n"                     // so does an escaped blank
        "long.test  first part\n"
        "   # a comment does not end it\n"
        "\n"
        "\tsecond part\n"                        // a continuation: appended as it is
        "novalue\n"                              // skipped: no value
        "\"open@x.test OK\n"                     // skipped: unbalanced quote
        "  orphan continuation\n"                // continues a skipped line: nothing more
        "nul.test\tbefore\0after\n"              // postmap reads a C string
        "last.test\tno newline"s;  // with its NUL
    for (const std::size_t piece : {std::size_t(0), std::size_t(1), std::size_t(7)}) {
        const Read r = read(text, true, piece);
        using E = std::tuple<std::string, std::string, unsigned>;
        const std::vector<E> expected{E{"example.com", "smtp:[mx]:25", 3},
                                      E{"\"john doe\"@x.test", "OK", 4},
                                      E{"a\\ b@x.test", "OK", 5},
                                      E{"long.test", "first part\tsecond part", 6},
                                      E{"nul.test", "before", 13},
                                      E{"last.test", "no newline", 14}};
        BOOST_TEST((r.entries == expected), "piece " << piece);
        BOOST_TEST(r.warnings.size() == 2u, "piece " << piece);
    }
    const Read orphan = read("  starts with a blank\nok\tyes\n", true);
    BOOST_TEST(orphan.entries.size() == 1u);
    BOOST_REQUIRE(orphan.warnings.size() == 1u);
    BOOST_TEST(orphan.warnings[0].find("line 1: ") == 0u, orphan.warnings[0]);
}

BOOST_AUTO_TEST_CASE(non_utf8_lines_are_skipped_in_utf8_mode_only) {
    const std::string text = "caf\xe9@x.test\tOK\nok@x.test\tOK\n";
    const Read utf8 = read(text, true);
    BOOST_TEST(utf8.entries.size() == 1u);
    BOOST_REQUIRE(utf8.warnings.size() == 1u);
    BOOST_TEST(utf8.warnings[0].find("line 1: not UTF-8") == 0u, utf8.warnings[0]);
    BOOST_TEST(read(text, false).entries.size() == 2u);
    for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xff"})
        BOOST_TEST(!postfix_valid_utf8(bad), bad);
    for (const char* good : {"", "abc", "\xc3\xbc", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"})
        BOOST_TEST(postfix_valid_utf8(good), good);
}

BOOST_AUTO_TEST_CASE(keys_fold_as_postfix_folds_them) {
    BOOST_TEST(folded("Bob@Example.COM", true) == "bob@example.com");
    // With UTF-8: ICU's full case folding, as Postfix's casefold().
    BOOST_TEST(folded("STRA\xc3\x9f" "E.test", true) == "strasse.test");          // ß -> ss
    BOOST_TEST(folded("\xc3\x84rger@x", true) == "\xc3\xa4rger@x");               // Ä -> ä
    BOOST_TEST(folded("\xce\xa3\xcf\x82", true) == "\xcf\x83\xcf\x83");            // Σς -> σσ
    // Without: ASCII letters only.
    BOOST_TEST(folded("STRA\xc3\x9f" "E.test", false) == "stra\xc3\x9f" "e.test");
    BOOST_TEST(folded("\xc3\x84rger@X", false) == "\xc3\x84rger@x");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(postfix_tables)

const std::string sample =
    "# header\n"
    "B.test\tone\n"        // folded to b.test: out of order after it
    "a.test\ttwo\n"
    "b.test\tthree\n"      // the same key once folded: the first value stays
    "stra\xc3\x9f" "e.test\tfour\n"
    "strasse.test\tfive\n"  // the same key as the line before, in UTF-8 mode
    "\"x y\"@z.test\tsix\n";

BOOST_AUTO_TEST_CASE(cdb_keys_and_values_without_nul_first_value_kept) {
    Scratch s;
    std::vector<std::string> warnings;
    const std::string path = s.path("t.cdb");
    BOOST_REQUIRE(write_postfix_table(PostfixTableType::cdb, table(s, sample), path, true, warnings) == "");
    BOOST_TEST(cdb_lookup(path, "b.test") == "one");
    BOOST_TEST(cdb_lookup(path, "a.test") == "two");
    BOOST_TEST(cdb_lookup(path, "strasse.test") == "four");
    BOOST_TEST(cdb_lookup(path, "\"x y\"@z.test") == "six");
    BOOST_TEST(cdb_lookup(path, "B.test") == "<none>");
    BOOST_TEST(cdb_lookup(path, std::string_view("a.test\0", 7)) == "<none>");
    BOOST_REQUIRE(warnings.size() == 2u);
    BOOST_TEST(warnings[0].find("line 4: duplicate entry \"b.test\"") == 0u, warnings[0]);
    BOOST_TEST(warnings[1].find("line 6: duplicate entry \"strasse.test\"") == 0u, warnings[1]);
    BOOST_TEST(write_postfix_table(PostfixTableType::cdb, table(s, sample), path, true, warnings).find("File exists") !=
               std::string::npos);  // never over an existing file
}

BOOST_AUTO_TEST_CASE(lmdb_keys_and_values_with_nul_first_value_kept) {
    Scratch s;
    std::vector<std::string> warnings;
    const std::string path = s.path("t.lmdb");
    BOOST_REQUIRE(write_postfix_table(PostfixTableType::lmdb, table(s, sample), path, false, warnings) == "");
    const auto n = [](const char* text) { return std::string(text) + '\0'; };
    const std::map<std::string, std::string> expected{{n("a.test"), n("two")},
                                                      {n("b.test"), n("one")},
                                                      {n("stra\xc3\x9f" "e.test"), n("four")},  // no UTF-8 folding
                                                      {n("strasse.test"), n("five")},
                                                      {n("\"x y\"@z.test"), n("six")}};
    BOOST_TEST((lmdb_entries(path) == expected));
    BOOST_TEST(warnings.size() == 1u);
    BOOST_TEST(!std::filesystem::exists(path + "-lock"));
}

BOOST_AUTO_TEST_CASE(a_big_table_in_order_and_a_long_value) {
    Scratch s;
    std::string text = "# a header\n";
    for (int i = 0; i < 20000; ++i) text += "user" + std::to_string(i) + "@example.com\tOK\n";
    text += "zz.test\t" + std::string(100000, 'v') + "\n";
    for (const PostfixTableType type : {PostfixTableType::cdb, PostfixTableType::lmdb}) {
        std::vector<std::string> warnings;
        const std::string path = s.path(type == PostfixTableType::cdb ? "big.cdb" : "big.lmdb");
        BOOST_REQUIRE(write_postfix_table(type, table(s, text), path, true, warnings) == "");
        BOOST_TEST(warnings.empty());
        if (type == PostfixTableType::cdb) {
            BOOST_TEST(cdb_lookup(path, "user19999@example.com") == "OK");
            BOOST_TEST(cdb_lookup(path, "zz.test") == std::string(100000, 'v'));
        } else {
            const auto entries = lmdb_entries(path);
            BOOST_TEST(entries.size() == 20001u);
            BOOST_TEST(entries.at(std::string("zz.test") + '\0').size() == 100001u);
        }
    }
}

BOOST_AUTO_TEST_CASE(an_lmdb_key_beyond_its_limit_is_an_error_and_no_file_is_left) {
    Scratch s;
    std::vector<std::string> warnings;
    const std::string path = s.path("long.lmdb");
    const std::string error =
        write_postfix_table(PostfixTableType::lmdb, table(s, std::string(600, 'k') + "\tOK\n"), path, true, warnings);
    BOOST_TEST(error.find("is longer than LMDB's 510 bytes") != std::string::npos, error);
    BOOST_TEST(!std::filesystem::exists(path));
    // cdb has no such limit
    BOOST_TEST(write_postfix_table(PostfixTableType::cdb, table(s, std::string(600, 'k') + "\tOK\n"), s.path("long.cdb"),
                                   true, warnings) == "");
}

BOOST_AUTO_TEST_SUITE_END()
