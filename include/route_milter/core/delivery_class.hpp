// delivery_class.hpp - hMailServer's four delivery classes and sets of them.
//
// A sender and a recipient are each "local" or "external"; the pair is the delivery class
// ("local-external" = a local sender writing to an external recipient). IP ranges allow
// classes and require SMTP authentication for classes; both are DeliveryClassSets.
#pragma once

#include "route_milter/core/name_code.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace route_milter {

enum class AddressClass : std::uint8_t { local, external };

enum class DeliveryClass : std::uint8_t { local_local, local_external, external_local, external_external };

constexpr DeliveryClass delivery_class(AddressClass sender, AddressClass recipient) {
    return static_cast<DeliveryClass>((sender == AddressClass::external ? 2 : 0) +
                                      (recipient == AddressClass::external ? 1 : 0));
}

inline constexpr NameCodeTable<AddressClass, 2> address_class_names{
    {{{"local", AddressClass::local}, {"external", AddressClass::external}}}};
static_assert(address_class_names.in_order());

inline constexpr NameCodeTable<DeliveryClass, 4> delivery_class_names{{{{"local-local", DeliveryClass::local_local},
                                                                         {"local-external", DeliveryClass::local_external},
                                                                         {"external-local", DeliveryClass::external_local},
                                                                         {"external-external",
                                                                          DeliveryClass::external_external}}}};
static_assert(delivery_class_names.in_order());

constexpr std::string_view name_of(DeliveryClass c) { return delivery_class_names.name(c); }
constexpr std::string_view name_of(AddressClass c) { return address_class_names.name(c); }

std::optional<DeliveryClass> parse_delivery_class(std::string_view name);
std::optional<AddressClass> parse_address_class(std::string_view name);

class DeliveryClassSet {
public:
    constexpr DeliveryClassSet() = default;
    static constexpr DeliveryClassSet all() { return DeliveryClassSet(0xf); }
    constexpr DeliveryClassSet with(DeliveryClass c) const { return DeliveryClassSet(bits_ | bit(c)); }
    constexpr bool contains(DeliveryClass c) const { return (bits_ & bit(c)) != 0; }
    constexpr bool empty() const { return bits_ == 0; }
    // The set as four bits (the policy image's form): bit n is DeliveryClass n.
    constexpr std::uint8_t bits() const { return bits_; }
    static constexpr DeliveryClassSet from_bits(std::uint8_t bits) { return DeliveryClassSet(bits & 0xf); }
    friend constexpr bool operator==(DeliveryClassSet, DeliveryClassSet) = default;

private:
    constexpr explicit DeliveryClassSet(std::uint8_t bits) : bits_(bits) {}
    static constexpr std::uint8_t bit(DeliveryClass c) { return static_cast<std::uint8_t>(1u << static_cast<int>(c)); }
    std::uint8_t bits_ = 0;
};

}  // namespace route_milter
