// test_support.hpp - helpers the unit tests share.
#pragma once

#include "route_milter/config/config_loader.hpp"
#include "route_milter/core/milter_socket.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <variant>

namespace route_milter::testing {

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

// A socket the test expects to parse; fails the test with the parser's line otherwise.
inline MilterSocket milter_socket(const std::string& text) {
    auto parsed = MilterSocket::parse(text);
    const auto* why = std::get_if<std::string>(&parsed);
    BOOST_REQUIRE_MESSAGE(why == nullptr, (why != nullptr ? *why : ""));
    return std::get<MilterSocket>(std::move(parsed));
}

}  // namespace route_milter::testing
