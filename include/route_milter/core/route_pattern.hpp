// route_pattern.hpp - the domain pattern of a route: "example.com", "*.example.com" or "*".
//
// NAME
//   RoutePattern - parsed once where the config is read; matches, ranks and spells itself.
// SYNOPSIS
//   std::variant<RoutePattern, std::string> r = RoutePattern::parse("*.Example.COM.");
//   pattern.matches("a.example.com"); pattern.specificity(); pattern.text(); pattern.base();
//   for_each_wildcard_suffix("a.example.com", [](std::string_view suffix) { ...; return true; });
// DESCRIPTION
//   exact     "example.com": that domain only.
//   wildcard  "*.example.com": every subdomain of example.com, at any depth, not example.com.
//   catch_all "*": every domain.
//   none      RoutePattern(): no pattern yet (a route whose domain is missing or bad); matches
//             nothing, text "".
//   Domains are compared in canonical form (domain.hpp: lower case, A-labels, no trailing dot).
//   The most specific pattern that matches a domain wins: exact, then the longest wildcard
//   base, then "*" (hMailServer sorts its routes by name and takes the first match; this is
//   the order an admin means, and the one the generated Postfix and Sendmail maps can express).
// DIAGNOSTICS
//   parse returns an error text naming the value for anything else: "*" inside a name, an
//   invalid host name or IDN.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace route_milter {

class RoutePattern {
public:
    enum class Kind { none, exact, wildcard, catch_all };

    static std::variant<RoutePattern, std::string> parse(std::string_view text);

    RoutePattern() = default;  // none

    Kind kind() const { return kind_; }
    bool empty() const { return kind_ == Kind::none; }
    bool is_exact() const { return kind_ == Kind::exact; }
    bool is_wildcard() const { return kind_ == Kind::wildcard; }
    bool is_catch_all() const { return kind_ == Kind::catch_all; }

    // The canonical spelling: "example.com", "*.example.com" or "*" ("" for none).
    const std::string& text() const { return text_; }
    // The domain the pattern is built on: "example.com" for both exact and wildcard, "" otherwise.
    std::string_view base() const;
    // The suffix a wildcard matches: ".example.com" ("" for the others).
    std::string_view suffix() const;

    // True when canonical `domain` falls under the pattern.
    bool matches(std::string_view domain) const;
    // True when every subdomain of canonical `domain` falls under the pattern ("*.example.com"
    // covers the subdomains of example.com and of a.example.com; an exact pattern covers none).
    bool matches_subdomains_of(std::string_view domain) const;
    // Higher wins among the patterns that match one domain: exact, then the longer wildcard
    // base, then "*".
    std::size_t specificity() const;

    friend bool operator==(const RoutePattern& a, const RoutePattern& b) { return a.text_ == b.text_; }

private:
    RoutePattern(Kind kind, std::string text) : kind_(kind), text_(std::move(text)) {}
    Kind kind_ = Kind::none;
    std::string text_;
};

// Calls f(".b.c"), then f(".c") for canonical "a.b.c": the suffix() of every wildcard pattern
// that matches the domain, the most specific first, until f returns false. An index of the
// wildcard routes by suffix then finds a domain's in a lookup per label, not a scan of them all.
template <typename F>
void for_each_wildcard_suffix(std::string_view domain, F&& f) {
    for (std::size_t dot = domain.find('.', 1); dot != std::string_view::npos; dot = domain.find('.', dot + 1))
        if (!f(domain.substr(dot))) return;
}

}  // namespace route_milter
