#define BOOST_TEST_DYN_LINK
#include "route_milter/sendmail/sendmail_maps.hpp"
#include "route_milter/sendmail/sendmail_steps.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <optional>

using namespace route_milter;

namespace {

using testing::config_from;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    for (std::size_t start = 0; start < text.size();) {
        const std::size_t end = text.find('\n', start);
        out.push_back(text.substr(start, end - start));
        start = end == std::string::npos ? text.size() : end + 1;
    }
    return out;
}

// What /bin/sh makes of `word`: its one argument, or "<N words>" when it split or vanished.
std::string as_shell_sees_it(const std::string& word) {
    const std::string command = "set -- " + word + "; [ $# -eq 1 ] && printf %s \"$1\" || printf '<%d words>' $#";
    const std::string quoted = shell_word(command);  // the test's own use of it, checked by the result
    FILE* p = ::popen(("/bin/sh -c " + quoted).c_str(), "r");
    BOOST_REQUIRE(p != nullptr);
    std::string out;
    char buf[256];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    ::pclose(p);
    return out;
}

// One route's files, rendered in place: the access file reads the Config it came from.
struct Rendered {
    explicit Rendered(std::string directory)
        : dir(std::move(directory)), config(config_from(R"(
        routes = ( { domain = "a.test"; host = "[192.0.2.1]"; auth = { user = "u"; password = "pw"; };
                     treat_recipient_as = "local"; } );)")) {
        SendmailMapsOptions o;
        o.output_dir = dir;
        maps = render_sendmail_maps(config, o);
        BOOST_REQUIRE_MESSAGE(maps.errors.empty(), testing::errors_text(maps));
    }
    Rendered(const Rendered&) = delete;
    Rendered& operator=(const Rendered&) = delete;

    std::string dir;
    Config config;
    SendmailMapsResult maps;
};

// The steps for r's files, with `sendmail_cf`; the other fields as the test sets them.
SendmailSteps steps_of(const Rendered& r, const std::string& sendmail_cf) {
    SendmailSteps s;
    s.output_dir = r.dir;
    s.files = &r.maps.files;
    s.sendmail_config = sendmail_cf;
    return s;
}

}  // namespace

namespace {

// "[(umask 077 && ]makemap hash MAP < MAP[ && chmod 0600 DB)]" read apart (no std::regex: GCC 12
// warns inside <regex> under the sanitizer build).
struct MakemapLine {
    std::string map, input, chmod;  // chmod: "" when the line has none
};
std::optional<MakemapLine> makemap_line(std::string line) {
    const auto take = [&line](std::string_view prefix) {
        if (line.rfind(prefix, 0) != 0) return false;
        line.erase(0, prefix.size());
        return true;
    };
    const bool grouped = take("(");
    if (grouped && !take("umask 077 && ")) return std::nullopt;
    if (!take("makemap hash ")) return std::nullopt;
    MakemapLine out;
    const std::size_t lt = line.find(" < ");
    if (lt == std::string::npos) return std::nullopt;
    out.map = line.substr(0, lt);
    line.erase(0, lt + 3);
    const std::size_t chmod = line.find(" && chmod 0600 ");
    if (grouped != (chmod != std::string::npos)) return std::nullopt;
    out.input = line.substr(0, chmod);
    if (grouped) {
        out.chmod = line.substr(chmod + 15);
        if (out.chmod.empty() || out.chmod.back() != ')') return std::nullopt;
        out.chmod.pop_back();
    }
    const auto blank = [](const std::string& t) { return t.empty() || t.find(' ') != std::string::npos; };
    if (blank(out.map) || blank(out.input) || (grouped && blank(out.chmod))) return std::nullopt;
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sendmail_steps)

BOOST_AUTO_TEST_CASE(each_written_map_is_compiled_with_makemap_hash_then_the_cf_is_rebuilt_and_reread) {
    const Rendered r("/etc/mail/routes");
    SendmailSteps s = steps_of(r, "/etc/mail/sendmail.cf");
    s.pid_file = "/run/sendmail/mta/sendmail.pid";
    s.missing_directories = {"/var/spool/mqueue/route_a_test"};
    const std::vector<std::string> lines = lines_of(render_sendmail_steps(s));

    std::vector<std::string> compiled, commands;
    for (const std::string& line : lines) {
        if (line.empty() || line.front() == '#') continue;
        commands.push_back(line);
        const std::optional<MakemapLine> m = makemap_line(line);
        if (!m) continue;
        BOOST_TEST(m->map == m->input);
        const std::string name = m->map.substr(std::string("/etc/mail/routes/").size());
        const RenderedFile* f = nullptr;
        for (const RenderedFile& each : r.maps.files)
            if (each.name == name) f = &each;
        BOOST_REQUIRE_MESSAGE(f != nullptr, line << ": a map that was not written");
        BOOST_TEST(f->compile_map, line);
        // The private map (credentials) gets a private .db, the others none of that.
        BOOST_TEST((f->mode == 0600) == !m->chmod.empty(), line);
        if (!m->chmod.empty()) BOOST_TEST(m->chmod == m->map + ".db");
        compiled.push_back(name);
    }
    std::vector<std::string> maps;
    for (const RenderedFile& f : r.maps.files)
        if (f.compile_map) maps.push_back(f.name);
    BOOST_TEST(compiled == maps, "every map once, in the order written");
    BOOST_REQUIRE(commands.size() == maps.size() + 3);
    BOOST_TEST(commands.front() == "install -d -m 0700 /var/spool/mqueue/route_a_test");
    BOOST_TEST(commands[commands.size() - 2] ==
               "m4 /etc/mail/sendmail.mc > /etc/mail/sendmail.cf.new && mv /etc/mail/sendmail.cf.new /etc/mail/sendmail.cf");
    BOOST_TEST(commands.back() == "kill -HUP \"$(head -n 1 /run/sendmail/mta/sendmail.pid)\"");
    BOOST_TEST(std::count(lines.begin(), lines.end(), "#   include(`/etc/mail/routes/sendmail.mc.snippet')dnl") == 1);
}

BOOST_AUTO_TEST_CASE(makemap_is_not_asked_for_when_routectl_ran_it_and_gets_the_cf_given) {
    const Rendered r("/srv/maps");
    SendmailSteps s = steps_of(r, "/srv/cf/site.cf");
    s.makemap_config = "/srv/cf/site.cf";
    const std::string with_config = render_sendmail_steps(s);
    BOOST_TEST(with_config.find("makemap -C /srv/cf/site.cf hash /srv/maps/mailertable < /srv/maps/mailertable\n") !=
               std::string::npos);
    BOOST_TEST(with_config.find("m4 /srv/cf/site.mc > /srv/cf/site.cf.new") != std::string::npos);
    // No pid file known: a note, no command that would signal nothing.
    BOOST_TEST(with_config.find("kill") == std::string::npos);
    BOOST_TEST(with_config.find("# restart sendmail") != std::string::npos);
    s.maps_compiled = true;
    const std::string compiled = render_sendmail_steps(s);
    BOOST_TEST(compiled.find("makemap ") == std::string::npos);
    BOOST_TEST(compiled.find("m4 /srv/cf/site.mc") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(paths_reach_the_shell_as_one_word_each) {
    for (const std::string word : {"/etc/mail/sendmail.cf", "/a b/c", "/it's", "/x;rm -rf /", "/$(id)", "/`id`",
                                   "/a*", "/new\nline", "/''", "/-x", "/~user", "/tab\there"})
        BOOST_TEST(as_shell_sees_it(shell_word(word)) == word);
    BOOST_TEST(shell_word("/etc/mail/sendmail.cf") == "/etc/mail/sendmail.cf");  // plain paths stay readable
    const Rendered r("/srv/maps");
    SendmailSteps s = steps_of(r, "/srv/my cf/sendmail.cf");
    s.pid_file = "/run/send mail.pid";
    const std::string text = render_sendmail_steps(s);
    BOOST_TEST(text.find("m4 '/srv/my cf/sendmail.mc' > '/srv/my cf/sendmail.cf.new' && mv '/srv/my cf/sendmail.cf.new' "
                         "'/srv/my cf/sendmail.cf'\n") != std::string::npos);
    BOOST_TEST(text.find("kill -HUP \"$(head -n 1 '/run/send mail.pid')\"\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_pid_file_is_the_last_absolute_one_sendmail_cf_sets) {
    BOOST_TEST(sendmail_pid_file("") == "");
    BOOST_TEST(sendmail_pid_file("#O PidFile=/var/run/sendmail.pid\n") == "");
    BOOST_TEST(sendmail_pid_file("O QueueDirectory=/q\nO PidFile=/run/sendmail/mta/sendmail.pid\n") ==
               "/run/sendmail/mta/sendmail.pid");
    BOOST_TEST(sendmail_pid_file("O PidFile=/a.pid\r\nO PidFile=/b.pid  \n") == "/b.pid");
    BOOST_TEST(sendmail_pid_file("O PidFile=/a.pid\nO PidFile=/var/run/$j.pid") == "");  // a macro: unknown
    BOOST_TEST(sendmail_pid_file("O PidFile=sendmail.pid\n") == "");
    BOOST_TEST(sendmail_pid_file("O PidFile=/a.pid") == "/a.pid");  // no final line break
}

BOOST_AUTO_TEST_CASE(sendmail_mc_is_beside_sendmail_cf) {
    BOOST_TEST(sendmail_mc_of("/etc/mail/sendmail.cf") == "/etc/mail/sendmail.mc");
    BOOST_TEST(sendmail_mc_of("/srv/lab/site.cf") == "/srv/lab/site.mc");
    BOOST_TEST(sendmail_mc_of("/srv/lab/config") == "/srv/lab/sendmail.mc");
    BOOST_TEST(sendmail_mc_of("/srv/x.cf/.cf") == "/srv/x.cf/sendmail.mc");
}

BOOST_AUTO_TEST_SUITE_END()
