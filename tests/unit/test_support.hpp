// test_support.hpp - helpers the unit tests share.
#pragma once

#include "route_milter/config/config_loader.hpp"
#include "route_milter/core/milter_socket.hpp"
#include "route_milter/core/policy.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <string>
#include <variant>
#include <vector>

namespace route_milter::testing {

// The rule that decides mail from an outside client and sender to `to` (a bare address).
inline std::string rule_for(const Policy& p, const std::string& to) {
    const std::string rcpt = "<" + to + ">";  // a Query holds views: the text outlives it
    const Query q{parse_ip_address("203.0.113.5"), false, "<a@far.example>", rcpt};
    return std::string(name_of(p.decide(q).rule));
}

// Every diagnostic of a result (anything with .errors), one "file:line: ..." per line.
template <typename Result>
std::string errors_text(const Result& r) {
    std::string out;
    for (const auto& d : r.errors) out += format_diagnostic(d) + "\n";
    return out;
}

// A config the test expects to be valid; fails the test with every error otherwise.
inline Config config_from(const std::string& text, const std::string& name = "maps.conf") {
    ConfigResult r = load_config_text(text, name);
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), errors_text(r));
    return std::move(*r.config);
}

// The whole of a file (the test fails if it cannot be read).
inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A private directory of config files, removed with everything in it.
struct ConfigDir {
    std::string path;
    ConfigDir() {
        char name[] = "/tmp/route-milter-conf-XXXXXX";
        BOOST_REQUIRE(mkdtemp(name) != nullptr);
        path = name;
    }
    ~ConfigDir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) const {
        const std::string file = path + "/" + name;
        std::ofstream(file) << text;
        BOOST_REQUIRE(chmod(file.c_str(), mode) == 0);
        return file;
    }
};

// The listed-address records of route `route`, in the order read.
inline std::vector<ListedAddresses::Record> records_of(const Config& config, std::uint32_t route) {
    std::vector<ListedAddresses::Record> out;
    for (const ListedAddresses::Record& r : config.listed.records())
        if (r.route == route) out.push_back(r);
    return out;
}

// A socket the test expects to parse; fails the test with the parser's line otherwise.
inline MilterSocket milter_socket(const std::string& text) {
    auto parsed = MilterSocket::parse(text);
    const auto* why = std::get_if<std::string>(&parsed);
    BOOST_REQUIRE_MESSAGE(why == nullptr, (why != nullptr ? *why : ""));
    return std::get<MilterSocket>(std::move(parsed));
}

}  // namespace route_milter::testing
