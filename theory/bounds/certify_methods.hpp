// moelab theory: the certificate methods, one enum and one table row each, and the dispatch that runs one
// of them over a data set (what `moelab certify` and `moelab sweep` call). A name is compared only here
// (find_certify_method); the command line, the checker and the sweep ask the row what a method is.
//   lipschitz  Lipschitz margin, routing-aware for top-1 MoEs (theory/bounds/lipschitz.hpp)
//   naive      the fixed-routing Lipschitz margin: unsound for hard routing, for comparison only
//   ibp        interval bound propagation with routing uncertainty (theory/bounds/ibp.hpp)
//   crown      full CROWN: linear bounds by back-substitution for every intermediate node, through ReLUs,
//              softmax gates, gate x expert products and every reachable routing (theory/bounds/linear_bounds.hpp)
//   crown-ibp  the same with intermediate bounds from intervals (CROWN-IBP)
//   alpha-crown  crown with the relaxations' slopes and weights optimised per margin (alpha-CROWN)
//   exact      the exact minimal L-inf distance where the MILP proves it (theory/exact/exact.hpp)
//   exact-lipschitz  the Lipschitz margin with exact local constants (theory/exact/exact_lipschitz.hpp)
//   smoothing  randomized smoothing, L2, probabilistic (theory/bounds/smoothing.hpp)
//   p2         P2's Equation (8) (theory/bounds/p2_certificate.hpp): the radius is its sound reading margin / (2 D(x));
//              the printed reading margin / D(x) rides along in MethodRadii::p2 (model-level MoEs only)
//   dual       the sound certificates of the dual model (theory/bounds/dual.hpp), one column each
// Adding a method: a value before `count`, a row in kCertifyMethods (in enum order: the static_asserts
// check it) and its case in certify_by_method.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/dataset.hpp"
#include "moe/model.hpp"
#include "theory/attacks/attack.hpp"
#include "theory/bounds/linear_bounds.hpp"
#include "theory/bounds/p2_certificate.hpp"
#include "theory/exact/milp_backend.hpp"

namespace moelab {

enum class CertifyMethod { lipschitz, naive, ibp, crown, crown_ibp, alpha_crown, exact, exact_lipschitz, smoothing, p2, dual, count };

// What a positive radius means: a proof, nothing (naive under hard routing), or a statement that holds with
// probability 1 - alpha (smoothing).
enum class Soundness { sound, unsound, probabilistic };

struct CertifyMethodInfo {
    CertifyMethod method;
    const char* name;
    Soundness soundness;
    bool linf, l2;              // the norms it certifies
    bool shared;                // run over a data set in one call: `moelab sweep` offers it too
    bool takes_dual_model;      // dual reads the robust model of the dual pair
    // Computed sample by sample, each from its own row alone (and its index: smoothing's noise streams), so
    // any contiguous run of samples gives the bits it has in the whole set: `moelab certify` splits these
    // over MPI ranks. The others run as one batch over the set, whose rows' bits may depend on the batch.
    bool per_sample;
};

inline constexpr std::array<CertifyMethodInfo, static_cast<std::size_t>(CertifyMethod::count)> kCertifyMethods{{
    {CertifyMethod::lipschitz, "lipschitz", Soundness::sound, true, true, true, false, false},
    {CertifyMethod::naive, "naive", Soundness::unsound, true, true, true, false, false},
    {CertifyMethod::ibp, "ibp", Soundness::sound, true, true, true, false, false},
    {CertifyMethod::crown, "crown", Soundness::sound, true, true, true, false, true},
    {CertifyMethod::crown_ibp, "crown-ibp", Soundness::sound, true, true, true, false, true},
    {CertifyMethod::alpha_crown, "alpha-crown", Soundness::sound, true, true, true, false, true},
    {CertifyMethod::exact, "exact", Soundness::sound, true, false, false, false, true},
    {CertifyMethod::exact_lipschitz, "exact-lipschitz", Soundness::sound, true, false, false, false, true},
    {CertifyMethod::smoothing, "smoothing", Soundness::probabilistic, false, true, true, false, true},
    {CertifyMethod::p2, "p2", Soundness::sound, true, false, false, false, false},
    {CertifyMethod::dual, "dual", Soundness::sound, true, true, false, true, false},
}};

namespace detail {
template <class Table>
constexpr bool methods_in_enum_order(const Table& table) {
    for (std::size_t i = 0; i < table.size(); ++i)
        if (static_cast<std::size_t>(table[i].method) != i) return false;
    return true;
}
}  // namespace detail
static_assert(kCertifyMethods.size() == static_cast<std::size_t>(CertifyMethod::count), "one row per method");
static_assert(detail::methods_in_enum_order(kCertifyMethods), "kCertifyMethods rows in the order of enum CertifyMethod");

inline const CertifyMethodInfo& info(CertifyMethod m) { return kCertifyMethods[static_cast<std::size_t>(m)]; }
inline std::string to_string(CertifyMethod m) { return info(m).name; }
inline bool is_sound(CertifyMethod m) { return info(m).soundness == Soundness::sound; }
inline bool certifies(CertifyMethod m, Norm norm) { return norm == Norm::linf ? info(m).linf : info(m).l2; }

std::optional<CertifyMethod> find_certify_method(std::string_view name);
std::vector<std::string> certify_method_names(bool shared_only = false);   // in table order

// The linear-bound method of crown, crown-ibp and alpha-crown (nullopt for the others), and their settings.
std::optional<LinearMethod> linear_bound_method(CertifyMethod m);
LinearBoundOptions linear_bound_options(CertifyMethod m);

struct CertifySettings {
    Box domain;                             // bounds the inputs (IBP, CROWN, the exact solvers)
    double sigma = 0.25;                    // smoothing: noise level
    std::int64_t draws = 1000;              // smoothing: Monte Carlo samples
    double radius_cap = 1.0;                // exact, exact-lipschitz: largest L-inf radius searched
    std::int64_t work_limit_nodes = 20000;  // exact, exact-lipschitz: branch-and-bound nodes (deterministic)
    double time_limit_s = 0.0;              // opt-in wall clock (0: none); its stops are marked load-dependent
    P2Options p2;                           // p2: output read as probabilities (default) or logits with a bound M
    std::int64_t first_index = 0;           // the data set's first row is this sample of the run (a rank's block)
    MilpBackend milp_backend = kDefaultMilpBackend;   // exact: the MILP solver (theory/exact/milp_backend.hpp)
};

// Per sample a radius and a status ("probabilistic" or "abstain" for smoothing, the solver's status for
// exact, the sound reading's status (formal, not-applicable, diagnostic) for p2; "sound", or "unsupported" where
// the radius is NaN, for the others), and one note for the run (empty when there is nothing to say).
struct MethodRadii {
    std::vector<double> radius;
    std::vector<std::string> status;
    std::string note;
    std::int64_t balls_tried = 0;           // exact-lipschitz: balls whose local constants were computed
    std::vector<P2Radius> p2;   // p2 only: both readings of Equation (8) per sample, with margin, D and route radius
};

// Any method but dual (its CSV has a column per certificate: certify_dual in theory/bounds/dual.hpp). The norm must
// be one the method certifies. exact and exact-lipschitz report `progress(samples done)` and throw
// ConfigError{"method", why, name} for a model their solver does not support.
MethodRadii certify_by_method(CertifyMethod method, const Classifier& model, const Dataset& test, Norm norm,
                              const CertifySettings& settings, const std::function<void(long)>& progress = {});

// The results of consecutive blocks of samples (a per_sample method run block by block, e.g. on MPI ranks),
// in sample order, as one run over all of them: radii and statuses concatenated, the note restated for
// the whole (exact-lipschitz counts every block's balls).
MethodRadii merge_method_radii(CertifyMethod method, const std::vector<MethodRadii>& blocks, const CertifySettings& settings);

}  // namespace moelab
