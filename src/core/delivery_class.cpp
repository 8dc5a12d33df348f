#include "route_milter/core/delivery_class.hpp"

namespace route_milter {

std::optional<DeliveryClass> parse_delivery_class(std::string_view name) {
    for (std::size_t i = 0; i < delivery_class_names.size(); ++i)
        if (delivery_class_names[i] == name) return static_cast<DeliveryClass>(i);
    return std::nullopt;
}

std::optional<AddressClass> parse_address_class(std::string_view name) {
    if (name == "local") return AddressClass::local;
    if (name == "external") return AddressClass::external;
    return std::nullopt;
}

}  // namespace route_milter
