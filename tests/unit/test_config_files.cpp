// The files the config names (the config itself, each @include, each addresses_file) are read
// only where no one but root, the reading user and the file's owner could have put them
// (config_source.hpp, FileOpener): whoever writes a delegated list cannot make the loader read,
// and so show, another file. Run as root, like the daemon's start and `routectl check`: another
// user is uid 4242.
#define BOOST_TEST_DYN_LINK
#include "route_milter/config/config_loader.hpp"
#include "route_milter/config/config_source.hpp"
#include "route_milter/config/load_policy.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

using namespace route_milter;
using testing::ConfigDir;
using testing::errors_text;
using testing::rule_for;

namespace {

constexpr uid_t other = 4242;  // not root, not the reading user
const std::string password = "Route-Pa55word-7f3a";
// What /etc/shadow holds: one word, no blank, that no error may show any of.
const std::string shadow_line = "root:$6$Qx9sSaltSalt$HashHashHashHashHashHash:19000:0:99999:7:::";

// main.conf (0600) routes lists.example to the file `list` (relative to the config) and holds a
// route password; secret/shadow (0600, in a 0700 directory) stands for /etc/shadow.
struct Setup {
    ConfigDir d;
    std::string main, shadow;
    explicit Setup(const std::string& list) {
        BOOST_REQUIRE(::mkdir((d.path + "/secret").c_str(), 0700) == 0);
        shadow = d.write("secret/shadow", shadow_line + "\n");
        BOOST_REQUIRE(::mkdir((d.path + "/lists").c_str(), 0755) == 0);
        main = d.write("main.conf",
                       "routes = (\n"
                       "  { domain = \"partner.example\"; host = \"mx.partner.example\";\n"
                       "    auth = { user = \"relay\"; password = \"" + password + "\"; }; },\n"
                       "  { domain = \"lists.example\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n"
                       "    addresses_file = \"" + list + "\"; }\n"
                       ");\n");
    }
    std::string at(const std::string& name) const { return d.path + "/" + name; }
    void link(const std::string& target, const std::string& name, uid_t owner) const {
        BOOST_REQUIRE(::symlink(target.c_str(), at(name).c_str()) == 0);
        BOOST_REQUIRE(::lchown(at(name).c_str(), owner, owner) == 0);
    }
    void directory(const std::string& name, mode_t mode, uid_t owner) const {
        BOOST_REQUIRE(::mkdir(at(name).c_str(), 0755) == 0);
        BOOST_REQUIRE(::chown(at(name).c_str(), owner, owner) == 0);
        BOOST_REQUIRE(::chmod(at(name).c_str(), mode) == 0);
    }
    // The one error of a load, which must fail; it may show no byte of a secret.
    std::string refused() const { return refused(main); }
    std::string refused(const std::string& config) const {
        const PolicyResult r = load_policy_file(config);
        BOOST_TEST(r.policy == nullptr);
        const std::string e = errors_text(r);
        BOOST_TEST(r.errors.size() == 1u, e);
        for (const std::string& secret : {password, std::string("HashHash"), std::string("Qx9s"), std::string("19000")})
            BOOST_TEST(e.find(secret) == std::string::npos, e);
        return e;
    }
    // The count of addresses a load takes from the list, which must be accepted.
    std::size_t accepted() const {
        const CompiledConfig r = compile_config_file(main);
        BOOST_REQUIRE_MESSAGE(r.config.has_value(), errors_text(r));
        return r.config->routes.at(1).addresses_file->count;
    }
    std::string with_path(std::string text) const {
        for (std::size_t at; (at = text.find('%')) != std::string::npos;) text.replace(at, 1, d.path);
        return text;
    }
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(config_files)

// The list's writer replaces it with a link to the config (its passwords), or to /etc/shadow,
// at the end of the path or on the way; none is followed, and the error names the link.
BOOST_AUTO_TEST_CASE(a_link_that_another_user_made_is_not_followed_anywhere_on_the_path) {
    struct Case {
        const char* what;
        std::string list;  // addresses_file as the config names it
        void (*make)(const Setup&);
        std::string why;  // in the error of the addresses_file line
    };
    const std::vector<Case> cases = {
        {"the list itself, to the config", "lists/partner.list",
         [](const Setup& s) { s.link("../main.conf", "lists/partner.list", other); },
         "a symbolic link (%/lists/partner.list) made by uid 4242: only links that root or root (uid 0) made are "
         "followed; name the file itself"},
        {"the list itself, to shadow by an absolute path", "lists/partner.list",
         [](const Setup& s) { s.link(s.shadow, "lists/partner.list", other); },
         "a symbolic link (%/lists/partner.list) made by uid 4242"},
        {"a directory on the way", "lists/alice/shadow",
         [](const Setup& s) { s.link("../secret", "lists/alice", other); },
         "a symbolic link (%/lists/alice) made by uid 4242"},
        {"a root link behind another user's", "lists/partner.list",
         [](const Setup& s) {
             s.link("../secret/shadow", "lists/root.link", 0);
             s.link("root.link", "lists/partner.list", other);
         },
         "a symbolic link (%/lists/partner.list) made by uid 4242"},
        {"root's link in a directory another user owns", "lists/bob/partner.list",
         [](const Setup& s) {
             s.directory("lists/bob", 0755, other);
             s.link("../../secret/shadow", "lists/bob/partner.list", 0);
         },
         "a symbolic link (%/lists/bob/partner.list) in a directory that uid 4242 may change (%/lists/bob, mode 0755)"},
        {"root's link in a directory its group may write", "lists/team/partner.list",
         [](const Setup& s) {
             s.directory("lists/team", 02775, 0);
             s.link("../../main.conf", "lists/team/partner.list", 0);
         },
         "a symbolic link (%/lists/team/partner.list) in a directory that its group or other users may change "
         "(%/lists/team, mode 2775)"},
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT(c.what) {
            const Setup s(c.list);
            c.make(s);
            const std::string e = s.refused();
            BOOST_TEST(has(e, s.main + ":5: routes[1].addresses_file: " + s.with_path(c.why)), e);
        }
    }
}

// An admin's links (root's, in root's directories) are followed, and a list is delegated by
// giving a user the file, or a directory with their own files in it.
BOOST_AUTO_TEST_CASE(root_links_and_delegated_files_and_directories_are_read) {
    {
        const Setup s("lists/current.list");  // a root link to the day's export
        s.d.write("lists/2030-01-01.list", "a@lists.example\nb@lists.example\n", 0644);
        s.link("2030-01-01.list", "lists/current.list", 0);
        BOOST_TEST(s.accepted() == 2u);
    }
    {
        const Setup s("lists/alice.list");  // alice's file (group: the daemon's) in root's directory
        s.d.write("lists/alice.list", "a@lists.example\n", 0640);
        BOOST_REQUIRE(::chown(s.at("lists/alice.list").c_str(), other, 0) == 0);
        BOOST_TEST(s.accepted() == 1u);
    }
    {
        const Setup s("lists/alice/partner.list");  // alice's directory and her files in it
        s.directory("lists/alice", 0755, other);
        s.d.write("lists/alice/partner.list", "a@lists.example\n", 0644);
        BOOST_REQUIRE(::chown(s.at("lists/alice/partner.list").c_str(), other, other) == 0);
        BOOST_TEST(s.accepted() == 1u);
    }
}

// Whoever may add names to a directory could link any file into it (a hard link needs no read
// permission where fs.protected_hardlinks is 0) or put a file of theirs in the list's place.
BOOST_AUTO_TEST_CASE(a_directory_gives_only_its_owners_files_and_none_if_others_may_write_it) {
    {
        const Setup s("lists/alice/partner.list");  // root's file (the shadow) in alice's directory
        s.directory("lists/alice", 0755, other);
        BOOST_REQUIRE(::link(s.shadow.c_str(), s.at("lists/alice/partner.list").c_str()) == 0);
        const std::string e = s.refused();
        BOOST_TEST(has(e, s.with_path("main.conf:5: routes[1].addresses_file: its directory (%/lists/alice) belongs "
                                      "to uid 4242 and the file to root (uid 0): a directory is trusted with its "
                                      "owner's own files only")),
                   e);
    }
    for (const mode_t mode : {mode_t{0777}, mode_t{01777}, mode_t{0775}, mode_t{0757}}) {
        BOOST_TEST_CONTEXT("mode " << mode_text(mode)) {
            const Setup s("lists/drop/partner.list");
            s.directory("lists/drop", mode, 0);
            s.d.write("lists/drop/partner.list", "a@lists.example\n", 0644);
            const std::string e = s.refused();
            BOOST_TEST(has(e, s.with_path("main.conf:5: routes[1].addresses_file: its directory (%/lists/drop) can be "
                                          "written by its group or other users (mode " + mode_text(mode) +
                                          "): whoever may add names to it could put any file in this one's place; "
                                          "run chmod go-w %/lists/drop")),
                       e);
        }
    }
}

// The same rules for the config named on the command line and for each @include.
BOOST_AUTO_TEST_CASE(the_config_and_its_includes_are_opened_by_the_same_rules) {
    {
        const Setup s("lists/x.list");
        s.link("main.conf", "link.conf", other);
        const std::string e = s.refused(s.at("link.conf"));
        BOOST_TEST(has(e, s.at("link.conf") + ": a symbolic link (" + s.at("link.conf") + ") made by uid 4242"), e);
    }
    {
        const Setup s("lists/x.list");
        s.link("../secret/shadow", "lists/part.conf", other);
        const std::string main = s.d.write("include.conf", "scope = \"all\";\n@include \"lists/part.conf\"\n");
        const std::string e = s.refused(main);
        BOOST_TEST(has(e, main + ":2: @include \"lists/part.conf\" (" + s.at("lists/part.conf") +
                              "): a symbolic link (" + s.at("lists/part.conf") + ") made by uid 4242"),
                   e);
    }
    {
        const Setup s("lists/x.list");
        s.directory("open", 0777, 0);
        const std::string main = s.d.write("open/main.conf", "scope = \"all\";\n");
        const std::string e = s.refused(main);
        BOOST_TEST(has(e, main + ": its directory (" + s.at("open") + ") can be written by its group or other users"), e);
    }
    {
        const Setup s("lists/x.list");  // root's link to an include: followed
        s.d.write("lists/part.conf", "scope = \"all\";\n");
        s.link("lists/part.conf", "part.conf", 0);
        const std::string main = s.d.write("include.conf", "@include \"part.conf\"\n");
        const PolicyResult r = load_policy_file(main);
        BOOST_TEST(r.policy != nullptr, errors_text(r));
    }
}

BOOST_AUTO_TEST_SUITE_END()
