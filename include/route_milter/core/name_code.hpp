// name_code.hpp - one {name, code} table per enum, used both ways (Postfix's name_code).
//
// NAME
//   NameCodeTable - the spellings of an enum's values, as config files, logs and routectl write them.
// SYNOPSIS
//   inline constexpr NameCodeTable<Security, 2> security_names{{{{"none", Security::none}, {"tls", Security::tls}}}};
//   security_names.code("tls");  security_names.name(Security::none);  security_names.choices();
// DESCRIPTION
//   Rows are in enumerator order (0, 1, ...), one row per enumerator: in_order() says so, and
//   each table states it with a static_assert beside its enum, so name() is an index.
//   choices() lists every name quoted for an error message: "\"none\", \"tls\"", or with
//   choices(" or ") "\"none\" or \"tls\"".
// DIAGNOSTICS
//   code() returns nullopt for a name not in the table (names are case-sensitive). name()
//   returns "?" for a value outside the enum.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace route_milter {

template <class E, std::size_t N>
struct NameCodeTable {
    struct Row {
        std::string_view name;
        E code;
    };
    std::array<Row, N> rows;

    constexpr std::optional<E> code(std::string_view name) const {
        for (const Row& row : rows)
            if (row.name == name) return row.code;
        return std::nullopt;
    }

    constexpr std::string_view name(E code) const {
        const auto i = static_cast<std::size_t>(code);
        return i < N ? rows[i].name : std::string_view("?");
    }

    // Every name, quoted, separated by ", " (the last one by `last_separator`).
    std::string choices(std::string_view last_separator = ", ") const {
        std::string out;
        for (std::size_t i = 0; i < N; ++i) {
            if (i != 0) out += i + 1 == N ? last_separator : std::string_view(", ");
            out += '"';
            out += rows[i].name;
            out += '"';
        }
        return out;
    }

    // One row per enumerator, in enumerator order, with distinct non-empty names.
    constexpr bool in_order() const {
        for (std::size_t i = 0; i < N; ++i) {
            if (static_cast<std::size_t>(rows[i].code) != i || rows[i].name.empty()) return false;
            for (std::size_t j = 0; j < i; ++j)
                if (rows[j].name == rows[i].name) return false;
        }
        return true;
    }

    static constexpr std::size_t size() { return N; }
    constexpr const Row* begin() const { return rows.data(); }
    constexpr const Row* end() const { return rows.data() + N; }
};

}  // namespace route_milter
