#include "route_milter/core/delivery_class.hpp"

namespace route_milter {

std::optional<DeliveryClass> parse_delivery_class(std::string_view name) { return delivery_class_names.code(name); }

std::optional<AddressClass> parse_address_class(std::string_view name) { return address_class_names.code(name); }

}  // namespace route_milter
