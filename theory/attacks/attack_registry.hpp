// moelab theory: the attacks of the harness (theory/attacks/attack_harness.hpp), one enum and one table row each.
// A name is compared only here (find_attack); everything else asks the row what the attack is.
//   fgsm, pgd, apgd-ce, apgd-dlr       eps-bounded, on the model as it predicts
//   deepfool, fmn, bisection           minimal distance (bisection = PGD at a bisected radius <= eps)
//   router   PGD on the router as a classifier over experts (RA-R)
//   expert   PGD with routing held at its clean decision (RA-E)
//   swap     no perturbation: the expert of a given rank is replaced by the next-ranked (P1)
//   routing  linear programs inside the region of each reachable expert (theory/attacks/routing_attack.hpp), L-inf
// Adding an attack: a value before `count`, a row in kAttacks (in enum order: the static_asserts check it)
// and its case in the harness's dispatch.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moelab {

enum class Attack { fgsm, pgd, apgd_ce, apgd_dlr, deepfool, fmn, bisection, router, expert, swap, routing, count };

// What an attack reports: a point in the eps ball, the smallest distance it found, or no perturbation.
enum class AttackReach { eps_bounded, minimal_distance, no_perturbation };
// The norms an attack searches in.
enum class AttackNorms { any, linf_only };

struct AttackInfo {
    Attack attack;
    const char* name;
    AttackReach reach;
    bool needs_moe;          // attacks the routing: the model must have an MoE layer
    bool targetable;         // has a targeted variant (a target class)
    bool judged_by_full_model;   // the attacked model is not the classifier: the summary adds the full model's accuracy
    AttackNorms norms = AttackNorms::any;
};

inline constexpr std::array<AttackInfo, static_cast<std::size_t>(Attack::count)> kAttacks{{
    {Attack::fgsm, "fgsm", AttackReach::eps_bounded, false, true, false},
    {Attack::pgd, "pgd", AttackReach::eps_bounded, false, true, false},
    {Attack::apgd_ce, "apgd-ce", AttackReach::eps_bounded, false, true, false},
    {Attack::apgd_dlr, "apgd-dlr", AttackReach::eps_bounded, false, true, false},
    {Attack::deepfool, "deepfool", AttackReach::minimal_distance, false, false, false},
    {Attack::fmn, "fmn", AttackReach::minimal_distance, false, false, false},
    {Attack::bisection, "bisection", AttackReach::minimal_distance, false, false, false},
    {Attack::router, "router", AttackReach::eps_bounded, true, false, true},
    {Attack::expert, "expert", AttackReach::eps_bounded, true, true, true},
    {Attack::swap, "swap", AttackReach::no_perturbation, true, false, false},
    {Attack::routing, "routing", AttackReach::eps_bounded, true, false, false, AttackNorms::linf_only},
}};

namespace detail {
template <class Table>
constexpr bool rows_in_enum_order(const Table& table) {
    for (std::size_t i = 0; i < table.size(); ++i)
        if (static_cast<std::size_t>(table[i].attack) != i) return false;
    return true;
}
}  // namespace detail
static_assert(kAttacks.size() == static_cast<std::size_t>(Attack::count), "one row per attack");
static_assert(detail::rows_in_enum_order(kAttacks), "kAttacks rows in the order of enum Attack");

inline const AttackInfo& info(Attack a) { return kAttacks[static_cast<std::size_t>(a)]; }
inline std::string to_string(Attack a) { return info(a).name; }
inline bool is_minimal_distance(Attack a) { return info(a).reach == AttackReach::minimal_distance; }

std::optional<Attack> find_attack(std::string_view name);
// Throws ConfigError{"attack", "unknown attack 'x' (expected one of fgsm, pgd, ...)"}.
Attack parse_attack(const std::string& name);
std::vector<std::string> attack_names();   // in table order
std::string attack_name_list();             // "fgsm, pgd, ..., swap"

}  // namespace moelab
