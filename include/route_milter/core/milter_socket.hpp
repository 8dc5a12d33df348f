// milter_socket.hpp - where the milter listens: "unix:PATH", "inet:PORT@HOST", "inet6:PORT@HOST".
//
// NAME
//   MilterSocket - parsed once (config milter.socket, route-milter -p); every program and
//   generator spells it from here.
// SYNOPSIS
//   std::variant<MilterSocket, std::string> s = MilterSocket::parse("inet:8891@127.0.0.1");
//   s.family(); s.path(); s.port(); s.host(); s.text();
// DESCRIPTION
//   "local:PATH" is libmilter's other name for "unix:PATH" and reads as it. An inet socket
//   without "@HOST" listens on every address, as libmilter does; host() is then empty. HOST is
//   an IP address of the socket's family or a host name; an inet6 address may be written in
//   brackets ("inet6:8891@[::1]"), host() holds it without them.
//   text() is the spelling libmilter's smfi_setconn takes. The MTA spellings live with the MTA
//   (postfix_milter_address, sendmail_milter_address).
// DIAGNOSTICS
//   parse returns one line naming the value: an unknown kind, an empty path, a port that is
//   not a number in 1..65535 ("inet:http@..."), an empty host, a host that is neither an IP
//   address nor a host name, an IPv4 address for inet6 or an IPv6 address for inet.
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace route_milter {

class MilterSocket {
public:
    enum class Family { unix_path, inet, inet6 };

    static std::variant<MilterSocket, std::string> parse(std::string_view spec);
    static MilterSocket unix_socket(std::string path);  // a path known to be good (the default)

    Family family() const { return family_; }
    bool is_unix() const { return family_ == Family::unix_path; }
    const std::string& path() const { return path_; }  // unix only
    int port() const { return port_; }                  // inet, inet6
    const std::string& host() const { return host_; }   // inet, inet6; "" = every address
    std::string text() const;                           // "unix:/p", "inet:8891@127.0.0.1", "inet6:8891@::1"

    bool operator==(const MilterSocket&) const = default;  // "local:/p" equals "unix:/p"

private:
    Family family_ = Family::unix_path;
    std::string path_;
    std::string host_;
    int port_ = 0;
};

}  // namespace route_milter
