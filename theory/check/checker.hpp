// moelab theory: the bound checker. Per sample, every certified radius, the exact minimal distance where
// the solver can prove it, and the best distance any attack found; then the chain
//     certified radius <= exact minimal distance <= attack distance
// is verified (docs/theory.md §4). A violation of the left inequality is an unsound certificate, of the right
// one a wrong attack or solver: both are counted in `violations`, and anything above zero is a bug to
// report. The naive fixed-routing bound of a hard-routing MoE is checked too but counted apart
// (`naive_violations`): it is expected to fail (claim C10). Randomized smoothing certifies a different
// classifier (the smoothed one) with probability 1 - alpha: reported, never counted. P2's Equation (8)
// (theory/bounds/p2_certificate.hpp, model-level MoEs) is checked in both readings where P2's probability mixture decides
// as the model does (hard top-1 routing): the sound reading (status formal) like any certificate, in `violations`;
// the printed reading apart, in `p2_violations` (a finding about P2's bound, not a bug of moelab). Every
// certificate gets a route-stability class per sample (theory/bounds/route_certificate.hpp). The dual model of P2 has
// its own checker (theory/bounds/dual.hpp).
//
// Tolerance: on the piecewise-linear models the exact solvers support, in linf, a point counts as adversarial
// only when the exact rational forward pass misclassifies it (theory/network/rational_check.hpp), and a certificate
// is compared with that point's exact distance with zero tolerance: a violation is a proof of unsoundness.
// The exact distance vs an attack allows 1e-6 * max(1, value) (GLPK's tolerances). Elsewhere (L2, soft
// gates) certificate vs attack allows 1e-9 relative.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/dataset.hpp"
#include "theory/attacks/attack.hpp"
#include "theory/bounds/certify_methods.hpp"
#include "theory/exact/exact.hpp"
#include "theory/exact/exact_lipschitz.hpp"
#include "theory/bounds/route_certificate.hpp"
#include "theory/bounds/smoothing.hpp"

namespace moelab {

struct CheckOptions {
    Norm norm = Norm::linf;
    Box domain;
    bool exact = true;                 // linf only, supported models only
    ExactOptions exact_options;
    // The Lipschitz margin with exact local constants (theory/exact/exact_lipschitz.hpp), balls searched up to
    // exact_options.radius_cap: linf, supported models only; off by default (several MILPs per ball).
    bool exact_lipschitz = false;
    ExactLipschitzOptions exact_lipschitz_options;
    double attack_eps_max = 1.0;       // the bisection's largest radius
    int attack_steps = 50;
    bool smoothing = false;            // l2 only
    SmoothingOptions smoothing_options;
    std::uint64_t seed = 1;
    // The rows whose per-sample results are computed and reported: [rows_begin, rows_end) (-1: to the end).
    // The batch parts (attacks, Lipschitz, IBP, CROWN, P2) still run over the whole data set, so each row has
    // the bits of a run over every row; the per-sample solvers (exact, exact-lipschitz, smoothing) run on
    // these rows alone. `moelab check` under mpirun gives each rank a block (experiments/cluster/sample_split.hpp).
    std::int64_t rows_begin = 0, rows_end = -1;
};

// The methods the checker runs, in the order of its CSV columns; soundness and names from their table rows.
inline constexpr std::array<CertifyMethod, 7> kCertMethods{CertifyMethod::lipschitz, CertifyMethod::ibp, CertifyMethod::naive,
                                                           CertifyMethod::crown, CertifyMethod::exact_lipschitz,
                                                           CertifyMethod::crown_ibp, CertifyMethod::alpha_crown};

struct CheckRow {
    std::int64_t index = 0;
    int label = 0, clean_pred = 0;
    std::vector<double> certified;     // per kCertMethods (NaN: method does not cover the model)
    double exact = std::numeric_limits<double>::quiet_NaN();   // d* when proven optimal
    std::string exact_status;          // optimal, bounds_only, beyond_cap, unsupported, skipped
    double exact_lower = 0.0;
    double attack = std::numeric_limits<double>::infinity();   // best verified attack distance
    std::string attack_name;           // which attack found it
    double smoothing = std::numeric_limits<double>::quiet_NaN();
    // P2's Equation (8), both readings (NaN: not a model-level MoE); status of the sound reading.
    double p2_printed = std::numeric_limits<double>::quiet_NaN(), p2_sound = std::numeric_limits<double>::quiet_NaN();
    std::string p2_status;
    double route_stable = std::numeric_limits<double>::quiet_NaN();   // theory/bounds/route_certificate.hpp (NaN: no router)
    std::vector<std::string> violations, naive_violations, p2_violations;
    bool load_dependent = false;       // the opt-in wall-clock limit stopped an exact solve of this sample
};

struct CheckReport {
    std::vector<CheckRow> rows;
    std::int64_t violations = 0, naive_violations = 0, p2_violations = 0;
    RouteSource route_source = RouteSource::no_router;
    bool p2_compared = false;   // P2's mixture decides as the model does (hard top-1): its readings were checked
    double seconds = 0.0;
};

// `progress(done, total)` counts the rows of o's range.
CheckReport run_check(const Classifier& model, const Dataset& data, const CheckOptions& o,
                      const std::function<void(long, long)>& progress = {});
// The report's counts from its rows (after rows of several blocks were put together).
void count_violations(CheckReport& report);
std::string to_csv(const CheckReport& report);
nlohmann::json summary_json(const CheckReport& report, const CheckOptions& o);

}  // namespace moelab
