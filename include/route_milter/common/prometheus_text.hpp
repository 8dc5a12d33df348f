// prometheus_text.hpp - Prometheus' text exposition format (version 0.0.4), both ways.
//
// NAME
//   append_label_value, parse_exposition - what route-milter's /metrics writes and what
//   `routectl stats` reads back.
// SYNOPSIS
//   out += "route_milter_decisions_total{route=\""; append_label_value(out, pattern); out += "\"} 3\n";
//   auto parsed = parse_exposition(body);   // std::vector<Sample> or one line saying what is wrong
// DESCRIPTION
//   append_label_value escapes a label value as the format requires: backslash, double quote
//   and line feed become \\, \" and \n; everything else is copied (UTF-8 is allowed).
//   parse_exposition reads samples `name{label="value",...} value [timestamp]`, skipping
//   comments (# HELP, # TYPE) and blank lines; values are floats (+Inf, -Inf, NaN accepted).
// DIAGNOSTICS
//   parse_exposition returns "line N: what is wrong" for the first malformed line (a bad name,
//   an unterminated label value, an unknown escape, a value that is not a number).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace route_milter {

void append_label_value(std::string& out, std::string_view value);

struct Sample {
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;

    // The value of label `key`, or "" when the sample has none.
    std::string_view label(std::string_view key) const;
};

std::variant<std::vector<Sample>, std::string> parse_exposition(std::string_view text);

}  // namespace route_milter
