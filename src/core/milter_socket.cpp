#include "route_milter/core/milter_socket.hpp"

#include "route_milter/core/domain.hpp"
#include "route_milter/core/ip_address.hpp"

#include <algorithm>

namespace route_milter {

std::variant<MilterSocket, std::string> MilterSocket::parse(std::string_view spec) {
    using R = std::variant<MilterSocket, std::string>;
    const auto fail = [&](const std::string& why) {
        return R(std::in_place_index<1>, why + " (\"" + std::string(spec) + "\")");
    };
    const std::size_t colon = spec.find(':');
    const std::string_view kind = colon == std::string_view::npos ? std::string_view() : spec.substr(0, colon);
    const std::string_view rest = colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
    MilterSocket s;
    if (kind == "unix" || kind == "local") {
        if (rest.empty()) return fail("must be \"unix:/path\" with a path");
        s.family_ = Family::unix_path;
        s.path_ = std::string(rest);
        return R(std::in_place_index<0>, std::move(s));
    }
    if (kind != "inet" && kind != "inet6") return fail("must be \"unix:/path\" or \"inet:PORT@HOST\"");
    s.family_ = kind == "inet" ? Family::inet : Family::inet6;
    const std::string form = "must be \"" + std::string(kind) + ":PORT@HOST\"";
    const std::size_t at = rest.find('@');
    const std::string_view port = rest.substr(0, at);
    const bool digits =
        !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    int number = 0;
    for (const char c : digits ? port : std::string_view()) number = number * 10 + (c - '0');
    if (number < 1 || number > 65535) return fail(form + " with PORT a number 1..65535");
    s.port_ = number;
    if (at != std::string_view::npos) {
        std::string_view host = rest.substr(at + 1);
        if (s.family_ == Family::inet6 && host.size() > 2 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2);
        if (host.empty()) return fail(form + " with a HOST after '@'");
        const auto ip = parse_ip_address(host);
        if (s.family_ == Family::inet6 && ip && ip->family == IpFamily::v4)
            return fail("an IPv4 host needs \"inet:PORT@HOST\"");
        if (s.family_ == Family::inet && ip && ip->family == IpFamily::v6)
            return fail("an IPv6 host needs \"inet6:PORT@HOST\"");
        std::string lower(host);
        std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; });
        // All digits and dots is meant as an IPv4 address ("10.0.0.300" is none), not as a name.
        const bool dotted = std::all_of(lower.begin(), lower.end(), [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
        if (!ip && (dotted || !is_host_name(lower))) return fail(form + " with HOST an IP address or a host name");
        s.host_ = std::string(host);
    }
    return R(std::in_place_index<0>, std::move(s));
}

MilterSocket MilterSocket::unix_socket(std::string path) {
    MilterSocket s;
    s.path_ = std::move(path);
    return s;
}

std::string MilterSocket::text() const {
    if (family_ == Family::unix_path) return "unix:" + path_;
    std::string out = (family_ == Family::inet ? "inet:" : "inet6:") + std::to_string(port_);
    if (!host_.empty()) out += "@" + host_;
    return out;
}

}  // namespace route_milter
