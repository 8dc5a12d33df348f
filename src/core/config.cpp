// config.cpp - what config.hpp declares beyond plain data: hMailServer's default IP ranges.
#include "route_milter/core/config.hpp"

#include <variant>

namespace route_milter {

std::vector<IpRangeConfig> default_ip_ranges() {
    const auto interval = [](const char* cidr) { return std::get<IpInterval>(parse_cidr(cidr)); };
    IpRangeConfig my_computer;
    my_computer.name = "My computer";
    my_computer.intervals = {interval("127.0.0.1/32"), interval("::1/128")};
    my_computer.priority = 30;
    my_computer.allow = DeliveryClassSet::all();
    my_computer.require_auth = DeliveryClassSet().with(DeliveryClass::external_external);
    IpRangeConfig internet;
    internet.name = "Internet";
    internet.intervals = {interval("0.0.0.0/0"), interval("::/0")};
    internet.priority = 10;
    internet.allow = DeliveryClassSet::all();
    internet.require_auth = DeliveryClassSet()
                                .with(DeliveryClass::local_local)
                                .with(DeliveryClass::local_external)
                                .with(DeliveryClass::external_external);
    return {my_computer, internet};
}

}  // namespace route_milter
