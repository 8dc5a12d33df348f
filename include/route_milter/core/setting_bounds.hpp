// setting_bounds.hpp - the bounds of the config's integer settings, declared once: the loader
// refuses a value outside them (config_loader.cpp's setting tables), the hMailServer importer
// clamps to them.
#pragma once

namespace route_milter {

struct SettingBounds {
    long long min;
    long long max;
};

inline constexpr SettingBounds milter_timeout_bounds{1, 86400};  // seconds
inline constexpr SettingBounds metrics_max_connections_bounds{1, 1024};
inline constexpr SettingBounds metrics_timeout_bounds{1, 300};  // seconds
inline constexpr SettingBounds range_priority_bounds{0, 1000000};
inline constexpr SettingBounds route_port_bounds{1, 65535};
inline constexpr SettingBounds route_retries_bounds{0, 1000};
inline constexpr SettingBounds route_retry_minutes_bounds{1, 10080};  // a week

}  // namespace route_milter
