#include "route_milter/core/milter_socket.hpp"

#include "route_milter/core/ip_address.hpp"

#include <algorithm>

namespace route_milter {

std::variant<MilterSocket, std::string> MilterSocket::parse(std::string_view spec) {
    using R = std::variant<MilterSocket, std::string>;
    const auto fail = [&](std::string_view why) {
        return R(std::in_place_index<1>, std::string(why) + " (\"" + std::string(spec) + "\")");
    };
    const std::size_t colon = spec.find(':');
    if (colon == std::string_view::npos) return fail("must be \"unix:/path\", \"inet:PORT@HOST\" or \"inet6:PORT@HOST\"");
    const std::string_view kind = spec.substr(0, colon);
    const std::string_view rest = spec.substr(colon + 1);
    MilterSocket s;
    if (kind == "unix" || kind == "local") {
        if (rest.empty()) return fail("empty socket path");
        s.family_ = Family::unix_path;
        s.path_ = std::string(rest);
        return R(std::in_place_index<0>, std::move(s));
    }
    if (kind != "inet" && kind != "inet6") return fail("must be \"unix:/path\", \"inet:PORT@HOST\" or \"inet6:PORT@HOST\"");
    s.family_ = kind == "inet" ? Family::inet : Family::inet6;
    const std::size_t at = rest.find('@');
    const std::string_view port = rest.substr(0, at);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return fail("the port must be a number 1..65535");
    s.port_ = 0;
    for (const char c : port) s.port_ = s.port_ * 10 + (c - '0');
    if (s.port_ < 1 || s.port_ > 65535) return fail("the port must be a number 1..65535");
    if (at != std::string_view::npos) {
        std::string_view host = rest.substr(at + 1);
        if (s.family_ == Family::inet6 && host.size() > 2 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2);
        if (host.empty()) return fail("empty host after '@'");
        const auto ip = parse_ip_address(host);
        if (s.family_ == Family::inet6 && ip && ip->family == IpFamily::v4)
            return fail("an IPv4 host needs inet:PORT@HOST");
        if (s.family_ == Family::inet && ip && ip->family == IpFamily::v6) return fail("an IPv6 host needs inet6:PORT@HOST");
        s.host_ = std::string(host);
    }
    return R(std::in_place_index<0>, std::move(s));
}

std::string MilterSocket::text() const {
    if (family_ == Family::unix_path) return "unix:" + path_;
    std::string out = (family_ == Family::inet ? "inet:" : "inet6:") + std::to_string(port_);
    if (!host_.empty()) out += "@" + host_;
    return out;
}

}  // namespace route_milter
