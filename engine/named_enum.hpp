// A family of settings chosen by name (a learning-rate schedule, a baseline, a gate, ...): an enum whose last
// value is `count`, and one table of {value, name} rows in enum order. The table is the only place a name
// is compared; the static_assert beside each table keeps it in step with its enum (as ggml keeps its op
// names with GGML_OP_COUNT):
//   inline constexpr std::array<NamedValue<Gate>, 2> kGates{{{Gate::a, "a"}, {Gate::b, "b"}}};
//   static_assert(names_match_enum(kGates));
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace moelab {

template <class E>
struct NamedValue {
    E value;
    const char* name;
};

// Every enum value below E::count has its row, at its own index.
template <class E, std::size_t N>
constexpr bool names_match_enum(const std::array<NamedValue<E>, N>& table) {
    if (N != static_cast<std::size_t>(E::count)) return false;
    for (std::size_t i = 0; i < N; ++i)
        if (static_cast<std::size_t>(table[i].value) != i) return false;
    return true;
}

template <class E, std::size_t N>
std::optional<E> find_by_name(const std::array<NamedValue<E>, N>& table, std::string_view name) {
    for (const auto& row : table)
        if (name == row.name) return row.value;
    return std::nullopt;
}

template <class E, std::size_t N>
std::string name_of(const std::array<NamedValue<E>, N>& table, E value) {
    return table[static_cast<std::size_t>(value)].name;
}

}  // namespace moelab
