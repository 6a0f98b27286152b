// moelab theory: what the two checkers (theory/check/checker.cpp, theory/check/dual_check.cpp) share; not public API.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/dataset.hpp"
#include "theory/attacks/attack.hpp"
#include "theory/check/checker.hpp"

namespace moelab::check_detail {

// A number as the CSV and the violation messages print it: 17 digits, "" for NaN, "inf"/"-inf".
std::string fmt(double v);

// certified > reference beyond the tolerance of the reference's precision (rel, relative, at least
// absolute rel); never true when either is NaN (a method that does not cover the sample).
bool exceeds(double certified, double reference, double rel);

// Per sample, the smallest distance at which one of three independent minimal-distance attacks
// (DeepFool, FMN, PGD bisection; o.attack_steps iterations, radii up to o.attack_eps_max) verified an
// adversarial example of m, and the attack's name; 0 and "clean" for a sample m already misclassifies
// (clean_pred != label); +inf and "" where no attack succeeded.
// With `verified` (the checker passes the exact rational forward pass, theory/network/rational_check.hpp) an
// attack's point counts only where verified(sample, point) holds; then a linf distance is recomputed
// exactly and rounded up. `points` [n, d] holds the chosen point per sample (x where none).
// `extra` adds the results of further minimal-distance attacks on all samples (the checker's routing attack
// on MoEs), judged the same way; on equal distances the earlier attack keeps the sample.
struct AttackDistances {
    std::vector<double> distance;
    std::vector<std::string> name;
    Tensor points;
};
using PointCheck = std::function<bool(std::size_t sample, const double* point)>;
using NamedAttackResult = std::pair<std::string, AttackResult>;
AttackDistances best_attack_distances(const AttackModel& m, const Dataset& data, const std::vector<std::int64_t>& clean_pred,
                                      const CheckOptions& o, const PointCheck& verified = {},
                                      std::vector<NamedAttackResult> extra = {});

// A list of messages as one CSV field: joined by "; ", in double quotes.
std::string quoted_list(const std::vector<std::string>& items);

// "<what> <value> > attack <attack> (<attack_name>)": a radius beyond a verified attack's distance.
std::string beyond_attack(const std::string& what, double value, double attack, const std::string& attack_name);

// The columns every checker CSV row starts with: index, label, clean prediction, one certified radius per
// method (header "certified_<method>").
template <class Methods>
void csv_header_start(std::ostream& out, const Methods& methods) {
    out << "index,label,clean_pred";
    for (const auto& m : methods) out << ",certified_" << m;
}
template <class Row>
void csv_row_start(std::ostream& out, const Row& r) {
    out << r.index << "," << r.label << "," << r.clean_pred;
    for (double c : r.certified) out << "," << fmt(c);
}

// One certificate method's entry in a checker's summary, over rows with clean_pred, label and attack:
// samples it covers (value not NaN), certified at a positive radius, and the median certified / attack
// over correctly classified samples with a finite positive attack distance (null when there are none).
// With `eps`, also the certified accuracy at eps (correct and certified beyond eps, over all rows).
// "kind" says what the method is (a sound certificate or a diagnostic); "status" says whether it ran: a method
// that covered no sample has shown nothing, and a bare "sound": true beside 0 samples read as a verdict.
template <class Rows, class Value>
nlohmann::json method_summary(const Rows& rows, Value&& value, bool sound, const double* eps = nullptr) {
    std::int64_t covered = 0, positive = 0, at_eps = 0;
    std::vector<double> ratio;
    for (const auto& r : rows) {
        const double c = value(r);
        if (std::isnan(c)) continue;
        ++covered;
        positive += c > 0.0;
        if (eps) at_eps += r.clean_pred == r.label && c > *eps;
        if (r.clean_pred == r.label && std::isfinite(r.attack) && r.attack > 0.0) ratio.push_back(c / r.attack);
    }
    std::sort(ratio.begin(), ratio.end());
    nlohmann::json entry = {{"samples_covered", covered}, {"certified_positive", positive},
                            {"kind", sound ? "certificate" : "diagnostic"}, {"status", covered == 0 ? "not run" : "checked"},
                            {"median_tightness_certified_over_attack",
                             ratio.empty() ? nlohmann::json() : nlohmann::json(ratio[ratio.size() / 2])}};
    if (eps)
        entry["certified_accuracy_at_eps"] =
            static_cast<double>(at_eps) / static_cast<double>(std::max<std::size_t>(1, rows.size()));
    return entry;
}

}  // namespace moelab::check_detail
