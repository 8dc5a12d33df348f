// main_cf_merge.hpp - the main.cf settings the routes need, merged into the admin's own. No I/O.
//
// The routes ask for settings (MainCfWanted); merge_main_cf weighs each against what main.cf
// says today (postconf -n), Postfix's default (postconf -d) and what the last `routectl apply`
// wrote (its record), and gives the values to set with the reasons:
//   list        route-milter's elements first, then every element the admin had, in order
//               (an element of ours from an earlier apply, recognised by its table directory or
//               the milter's address, is replaced, never doubled)
//   required    the routes cannot work without this value: set, and a warning names the
//               admin's value it replaces
//   preferred   set only where the admin set nothing (or the last apply set it); an admin's
//               other value is left, and a warning says what would change and why
//   remove      Postfix's default less some elements (parent_domain_matches_subdomains): those
//               elements go from the admin's value, which keeps everything else
// A setting whose merged value equals today's is not set at all: applying twice changes nothing.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace route_milter {

enum class MergeKind { list, required, preferred, remove };

struct MainCfWanted {
    std::string name;
    std::string value;  // list/remove: the elements, comma-separated
    MergeKind kind = MergeKind::preferred;
    std::string why;    // shown when an admin's value is replaced or kept
    std::string with;   // set only where the setting of this name is set too (one of a pair)
};

struct MainCfState {
    std::map<std::string, std::string> explicit_values;  // postconf -n: what main.cf sets
    std::map<std::string, std::string> defaults;         // postconf -d: Postfix's own value
    std::map<std::string, std::string> applied;          // what the last apply set (its record)
};

struct MainCfMerge {
    std::map<std::string, std::string> set;  // name -> new value, only where it changes
    std::vector<std::string> warnings;       // admin values replaced (required) or kept (preferred)
};

// A main.cf list split as Postfix splits it: at commas and blanks, "{ ... }" kept whole.
std::vector<std::string> split_main_cf_list(std::string_view value);
std::string join_main_cf_list(const std::vector<std::string>& elements);
// An element without its per-milter settings: "{ inet:host:1, default_action=tempfail }" and
// "inet:host:1" name the same milter; any other element is its own name.
std::string main_cf_milter_name(std::string_view element);

// `ours(element)` tells an element an earlier apply wrote (its table directory, its milter).
MainCfMerge merge_main_cf(const std::vector<MainCfWanted>& wanted, const MainCfState& state,
                          bool (*ours)(std::string_view element, const void* context), const void* context);

}  // namespace route_milter
