// version.hpp - the release of route-milter, shown by `route-milter -V` and `routectl --version`.
#pragma once

namespace route_milter {
inline constexpr const char* version = "0.1.0";
}
