#include "theory/attacks/attack_registry.hpp"

#include "engine/config_error.hpp"

namespace moelab {

std::optional<Attack> find_attack(std::string_view name) {
    for (const AttackInfo& row : kAttacks)
        if (name == row.name) return row.attack;
    return std::nullopt;
}

Attack parse_attack(const std::string& name) {
    if (const auto a = find_attack(name)) return *a;
    throw ConfigError("attack", "unknown attack '" + name + "' (expected one of " + attack_name_list() + ")");
}

std::vector<std::string> attack_names() {
    std::vector<std::string> names;
    for (const AttackInfo& row : kAttacks) names.emplace_back(row.name);
    return names;
}

std::string attack_name_list() {
    std::string list;
    for (const AttackInfo& row : kAttacks) {
        if (!list.empty()) list += ", ";
        list += row.name;
    }
    return list;
}

}  // namespace moelab
