// Claim C2 of P1 (Puigcerver et al., NeurIPS 2022): the robustness of an MoE can suffer where the highest weighted
// experts implement different functions. Near routing boundaries (top-2 gates close, where the routing term
// (e_i - e_j) g_i g_j grad(s_i - s_j) of the derivative weighs most), the smallest adversarial distance is set
// against the relative spread of the two selected experts, with the clean logit margin partialled out.
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "engine/ops.hpp"
#include "experiments/claims/common.hpp"
#include "experiments/claims/drivers.hpp"
#include "theory/attacks/attack_harness.hpp"

using nlohmann::json;

namespace moelab::cli {

namespace {

// Per test sample at the first MoE layer (block 0 follows the stem directly: moe/model.hpp): the gap between the
// two selected gates, and ||e_i(h) - e_j(h)||_2 absolute and relative to the mean norm of the two outputs.
struct SpreadAtLayer {
    std::vector<double> gate_gap, spread, relative;
};

SpreadAtLayer spread_at_first_layer(const Classifier& model, const Tensor& x) {
    NoGradGuard no_grad;
    const Routing routing = model.forward(Var(x)).routings.front();
    const Var h = relu(linear(Var(x), model.params().get("stem.weight"), model.params().get("stem.bias")));
    std::vector<Tensor> out;
    for (const MLP& e : model.moe_layers().front().experts) out.push_back(e.forward(h).value());
    const std::int64_t m = out.front().cols();
    SpreadAtLayer s;
    const Tensor& gates = routing.gates.value();
    for (std::int64_t b = 0; b < x.rows(); ++b) {
        const auto i = static_cast<std::size_t>(routing.expert[static_cast<std::size_t>(b * routing.k)]);
        const auto j = static_cast<std::size_t>(routing.expert[static_cast<std::size_t>(b * routing.k + 1)]);
        double d = 0.0, ni = 0.0, nj = 0.0;
        for (std::int64_t c = 0; c < m; ++c) {
            d += std::pow(out[i].at(b, c) - out[j].at(b, c), 2);
            ni += out[i].at(b, c) * out[i].at(b, c);
            nj += out[j].at(b, c) * out[j].at(b, c);
        }
        const double mean_norm = 0.5 * (std::sqrt(ni) + std::sqrt(nj));
        s.gate_gap.push_back(std::abs(gates.at(b, 0) - gates.at(b, 1)));
        s.spread.push_back(std::sqrt(d));
        s.relative.push_back(mean_norm > 0.0 ? std::sqrt(d) / mean_norm : 0.0);
    }
    return s;
}

// The clean logit margin F_y - max_{c != y} F_c: the attack distance is about margin / L, so the margin is the
// confounder to control for when the distance is set against the spread.
std::vector<double> logit_margins(const AttackModel& am, const Tensor& x, const std::vector<int>& y) {
    std::vector<double> margin(y.size());
    const Tensor z = attack_logits(am, x);
    for (std::int64_t b = 0; b < x.rows(); ++b) {
        double other = -std::numeric_limits<double>::infinity();
        for (std::int64_t c = 0; c < z.cols(); ++c)
            if (c != y[static_cast<std::size_t>(b)]) other = std::max(other, z.at(b, c));
        margin[static_cast<std::size_t>(b)] = z.at(b, y[static_cast<std::size_t>(b)]) - other;
    }
    return margin;
}

// Partial rank correlation of a and b given c (from the three Spearman coefficients).
double partial_spearman(const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>& c) {
    const double ab = spearman(a, b), ac = spearman(a, c), bc = spearman(b, c);
    return (ab - ac * bc) / std::sqrt((1.0 - ac * ac) * (1.0 - bc * bc));
}

// The correctly classified test samples whose top-2 gate gap is at most the median over all of them (the half
// nearest a boundary of the top-1 choice), the first `count` in index order.
std::vector<std::int64_t> near_boundary(const Classifier& model, const Dataset& test, const SpreadAtLayer& s,
                                        std::int64_t count) {
    const EvalResult clean = evaluate(model, test);
    std::vector<std::int64_t> correct;
    std::vector<double> gaps;
    for (std::int64_t i = 0; i < test.size(); ++i)
        if (clean.predictions[static_cast<std::size_t>(i)] == test.y[static_cast<std::size_t>(i)]) {
            correct.push_back(i);
            gaps.push_back(s.gate_gap[static_cast<std::size_t>(i)]);
        }
    std::vector<double> sorted = gaps;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted.empty() ? 0.0 : sorted[(sorted.size() - 1) / 2];
    std::vector<std::int64_t> keep;
    for (std::size_t j = 0; j < correct.size() && static_cast<std::int64_t>(keep.size()) < count; ++j)
        if (gaps[j] <= median) keep.push_back(correct[j]);
    return keep;
}

struct SeedResult {
    std::int64_t n = 0;
    double rho_relative = 0.0, rho_absolute = 0.0, rho_margin = 0.0, partial = 0.0;
};

SeedResult run_seed(const std::string& root, const ReproProfile& p, std::uint64_t seed, std::ostringstream& csv,
                    std::vector<std::string>& usage) {
    const FashionModels f = fashion_models(root, p, seed);
    const Classifier& model = *f.moe;
    usage.push_back(usage_of(seeded("fashion-moe", seed), model, f.data.test.x));
    const SpreadAtLayer all = spread_at_first_layer(model, f.data.test.x);
    const std::vector<std::int64_t> keep = near_boundary(model, f.data.test, all, p.correlation_samples);
    const std::int64_t n = static_cast<std::int64_t>(keep.size()), d = f.data.test.dim();
    Tensor x(Shape{n, d});
    std::vector<int> y;
    for (std::int64_t j = 0; j < n; ++j) {
        const std::int64_t i = keep[static_cast<std::size_t>(j)];
        std::copy_n(f.data.test.x.data() + i * d, d, x.data() + j * d);
        y.push_back(f.data.test.y[static_cast<std::size_t>(i)]);
    }
    const AttackModel am = classifier_attack_model(model, kImageBox);
    const std::vector<double> margin = logit_margins(am, x, y);
    MinimalOptions mo;
    mo.norm = Norm::l2;
    const AttackResult df = deepfool(am, x, y, mo), fm = fmn(am, x, y, mo);
    std::vector<double> rel, abs_spread, dist, marg;
    for (std::int64_t j = 0; j < n; ++j) {
        const auto b = static_cast<std::size_t>(j), i = static_cast<std::size_t>(keep[b]);
        const double distance = std::min(df.distance[b], fm.distance[b]);
        csv << seed << "," << keep[b] << "," << y[b] << "," << all.gate_gap[i] << "," << all.spread[i] << ","
            << all.relative[i] << "," << (std::isfinite(distance) ? distance : std::nan("")) << "," << margin[b] << "\n";
        if (!std::isfinite(distance)) continue;
        rel.push_back(all.relative[i]);
        abs_spread.push_back(all.spread[i]);
        dist.push_back(distance);
        marg.push_back(margin[b]);
    }
    return {static_cast<std::int64_t>(dist.size()), spearman(rel, dist), spearman(abs_spread, dist),
            spearman(marg, dist), partial_spearman(dist, rel, marg)};
}

}  // namespace

ClaimOutcome run_c2(const std::string& dir, const ReproProfile& p) {
    ClaimOutcome o;
    std::ostringstream csv;
    csv << "seed,index,label,gate_gap,expert_spread_l2,relative_spread,attack_distance_l2,logit_margin\n";
    ResultsTable t{"Per seed: Spearman correlations over the near-boundary samples with an attack distance found.",
                   {"seed", "samples", "rho(distance, relative spread)", "rho(distance, absolute spread)",
                    "rho(distance, margin)", "partial rho given margin"},
                   {}};
    std::vector<double> partial;
    json per_seed = json::array();
    for (std::uint64_t seed : p.seeds) {
        const SeedResult r = run_seed(root_of(dir), p, seed, csv, o.usage);
        if (!std::isfinite(r.partial))
            throw std::runtime_error("C2: the partial correlation is undefined for seed " + std::to_string(seed));
        partial.push_back(r.partial);
        t.rows.push_back({std::to_string(seed), std::to_string(r.n), sig(r.rho_relative, 3), sig(r.rho_absolute, 3),
                          sig(r.rho_margin, 3), sig(r.partial, 3)});
        per_seed.push_back({{"seed", seed}, {"samples", r.n}, {"spearman_distance_relative_spread", r.rho_relative},
                            {"spearman_distance_absolute_spread", r.rho_absolute},
                            {"spearman_distance_margin", r.rho_margin}, {"partial_given_margin", r.partial}});
    }
    write_file_atomic(dir + "/samples.csv", csv.str());
    plot("claim_c2.gp", dir);
    o.tables.push_back(t);
    o.figure = "samples.png";
    o.paper = "P1 (in words, no numbers): the robustness of an MoE can suffer when the highest weighted experts for an "
              "input implement sufficiently different functions.";
    o.effect = "partial Spearman rho of attack distance and relative expert spread given the logit margin, near "
               "routing boundaries, per seed";
    o.interval = mean_interval(partial);
    o.rule = {Direction::below, -0.1};   // P1: distance falls as the spread grows; |rho| < 0.1 is no relation to speak of
    o.seeds = p.seeds;
    o.budget = std::to_string(p.epochs) + " epochs on " + training_images(p.train_limit) + " images; DeepFool + FMN on " +
               std::to_string(p.correlation_samples) + " samples per seed";
    o.setup = "Data: Fashion-MNIST, " + training_images(p.train_limit) + " training images, the first " +
              std::to_string(p.test_samples) + " test images. Model: the shared layer-level MoE (stem 784-128, one MoE "
              "block of E = 8 ReLU experts 128-256-128, top-2 softmax-then-top-k gate, learned router, Switch load "
              "balancing 0.3), " + std::to_string(p.epochs) + " epochs of Adam with a cosine schedule, one per seed. "
              "Samples: the correctly classified test samples whose top-2 gate gap |g_1 - g_2| is at most the median "
              "(near a routing boundary: the routing term of the derivative carries g_1 g_2, largest when the gates "
              "are close), the first " + std::to_string(p.correlation_samples) + " of them. Measures: relative spread "
              "||e_i(h) - e_j(h)|| / mean(||e_i(h)||, ||e_j(h)||) of the two selected experts at the MoE layer's input "
              "(relative, so it does not grow with the activations' size); the smallest L2 adversarial distance found "
              "(the better of DeepFool and FMN, 50 iterations); the clean logit margin, partialled out since distance "
              "is about margin / L. Differs from P1: P1 gives no experiment for this statement; the local Lipschitz "
              "estimate of the earlier version is dropped (it does not see routing jumps and costs the budget).";
    o.data = {{"per_seed", per_seed}, {"partial_given_margin", partial}};
    decide(o, partial);
    o.reason = "partial rho (distance, relative spread | margin) = " + sig(o.interval) + " over " +
               std::to_string(partial.size()) + " seeds.";
    return o;
}

}  // namespace moelab::cli
