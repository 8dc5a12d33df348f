#include "route_milter/postfix/main_cf_merge.hpp"

#include <algorithm>

namespace route_milter {

std::vector<std::string> split_main_cf_list(std::string_view value) {
    std::vector<std::string> out;
    std::string current;
    int depth = 0;
    const auto flush = [&] {
        if (!current.empty()) out.push_back(current);
        current.clear();
    };
    for (const char c : value) {
        if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            flush();
            continue;
        }
        if (c == '{') ++depth;
        if (c == '}' && depth > 0) --depth;
        current += c;
    }
    flush();
    return out;
}

std::string join_main_cf_list(const std::vector<std::string>& elements) {
    std::string out;
    for (const std::string& e : elements) out += (out.empty() ? "" : ", ") + e;
    return out;
}

std::string main_cf_milter_name(std::string_view element) {
    if (element.empty() || element.front() != '{') return std::string(element);
    std::vector<std::string> inner = split_main_cf_list(element.substr(1, element.size() - (element.back() == '}' ? 2 : 1)));
    return inner.empty() ? std::string() : inner.front();
}

namespace {

bool same_element(std::string_view a, std::string_view b) { return main_cf_milter_name(a) == main_cf_milter_name(b); }

}  // namespace

MainCfMerge merge_main_cf(const std::vector<MainCfWanted>& wanted, const MainCfState& state,
                          bool (*ours)(std::string_view element, const void* context), const void* context) {
    MainCfMerge out;
    const auto lookup = [](const std::map<std::string, std::string>& m, const std::string& name) -> const std::string* {
        const auto it = m.find(name);
        return it == m.end() ? nullptr : &it->second;
    };
    for (const MainCfWanted& w : wanted) {
        const std::string* now = lookup(state.explicit_values, w.name);
        const std::string* last = lookup(state.applied, w.name);
        const std::string* fallback = lookup(state.defaults, w.name);
        const std::string current = now != nullptr ? *now : fallback != nullptr ? *fallback : std::string();
        const bool admin_set = now != nullptr && (last == nullptr || *last != *now);
        std::string value;
        switch (w.kind) {
        case MergeKind::list: {
            std::vector<std::string> merged = split_main_cf_list(w.value);
            // Only what main.cf itself says is the admin's: a default ("$relay_domains") is not copied in.
            for (const std::string& e : now != nullptr ? split_main_cf_list(*now) : std::vector<std::string>{}) {
                if (ours(e, context)) continue;
                if (std::any_of(merged.begin(), merged.end(), [&](const std::string& m) { return same_element(m, e); }))
                    continue;
                merged.push_back(e);
            }
            value = join_main_cf_list(merged);
            break;
        }
        case MergeKind::remove: {
            // What w.value leaves out of Postfix's default goes; the admin's own additions stay.
            std::vector<std::string> kept, gone;
            const std::vector<std::string> wanted_elements = split_main_cf_list(w.value);
            for (const std::string& e : split_main_cf_list(fallback != nullptr ? *fallback : std::string()))
                if (std::find(wanted_elements.begin(), wanted_elements.end(), e) == wanted_elements.end()) gone.push_back(e);
            for (const std::string& e : split_main_cf_list(current))
                if (std::find(gone.begin(), gone.end(), e) == gone.end()) kept.push_back(e);
            value = join_main_cf_list(kept);
            if (value == join_main_cf_list(split_main_cf_list(current))) continue;
            if (admin_set)
                out.warnings.push_back(w.name + ": " + join_main_cf_list(gone) + " taken out of \"" + current + "\": " +
                                       w.why);
            break;
        }
        case MergeKind::required:
            value = w.value;
            if (admin_set && *now != value)
                out.warnings.push_back(w.name + " was \"" + *now + "\", set to \"" + value + "\": " + w.why);
            break;
        case MergeKind::preferred:
            value = w.value;
            if (!w.with.empty() && std::any_of(out.warnings.begin(), out.warnings.end(), [&](const std::string& x) {
                    return x.rfind(w.with + " is ", 0) == 0;
                }))
                continue;  // its pair is the admin's
            if (admin_set && *now != value) {
                out.warnings.push_back(w.name + " is \"" + *now + "\" and is left so; route-milter would set \"" + value +
                                       "\": " + w.why);
                continue;
            }
            break;
        }
        if (now != nullptr && *now == value) continue;
        if (now == nullptr && value.empty() && w.kind == MergeKind::list) continue;
        out.set[w.name] = value;
    }
    return out;
}

}  // namespace route_milter
