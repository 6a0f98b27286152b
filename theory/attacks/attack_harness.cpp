#include "theory/attacks/attack_harness.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "engine/config_error.hpp"
#include "theory/attacks/routing_attack.hpp"

namespace moelab {

namespace {

Tensor rows_of(const Tensor& x, std::int64_t begin, std::int64_t count) {
    Tensor out(Shape{count, x.cols()});
    std::memcpy(out.data(), x.data() + begin * x.cols(), static_cast<std::size_t>(count * x.cols()) * sizeof(double));
    return out;
}

// The first MoE layer's expert set per row (empty lists for a model without MoE layers).
std::vector<std::vector<std::int64_t>> expert_sets(const Classifier& model, const Tensor& x, const ForwardOptions& o) {
    std::vector<std::vector<std::int64_t>> sets(static_cast<std::size_t>(x.rows()));
    if (model.moe_layers().empty()) return sets;
    NoGradGuard no_grad;
    const ModelOutput out = model.forward(Var(x), o);
    const Routing& r = out.routings.front();
    for (std::int64_t b = 0; b < r.rows(); ++b)
        for (std::int64_t j = 0; j < r.k; ++j)
            if (r.kept[static_cast<std::size_t>(b * r.k + j)]) sets[static_cast<std::size_t>(b)].push_back(r.expert[static_cast<std::size_t>(b * r.k + j)]);
    return sets;
}

bool same_set(std::vector<std::int64_t> a, std::vector<std::int64_t> b) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return a == b;
}

std::vector<int> make_targets(const std::string& target, const std::vector<int>& y, std::int64_t classes) {
    if (target.empty()) return {};
    std::vector<int> t(y.size());
    for (std::size_t b = 0; b < y.size(); ++b) {
        if (target == "next") {
            t[b] = static_cast<int>((y[b] + 1) % classes);
        } else {
            t[b] = std::stoi(target);
        }
    }
    return t;
}

RoutingAttackOptions routing_options(const AttackSpec& spec, double eps) {
    RoutingAttackOptions r;
    r.eps = eps;
    r.rounds = spec.options.steps;
    r.domain = spec.domain;
    return r;
}

std::vector<double> default_grid(const AttackSpec& spec) {
    if (!spec.eps_grid.empty()) return spec.eps_grid;
    const double e = spec.options.eps;
    if (is_minimal_distance(spec.attack)) {
        std::vector<double> g;
        for (int i = 0; i <= 10; ++i) g.push_back(e * i / 10.0);
        return g;
    }
    return {0.25 * e, 0.5 * e, 0.75 * e, e};
}

// One run of an eps-bounded attack at radius eps on a batch: returns the attack's result, judged by the
// model the attack targets (the frozen model for "expert", the full model otherwise).
AttackResult run_eps_attack(const Classifier& model, const AttackSpec& spec, const Tensor& x, const std::vector<int>& y,
                            const std::vector<int>& targets, double eps) {
    AttackOptions o = spec.options;
    o.eps = eps;
    o.targets = targets;
    switch (spec.attack) {
    case Attack::router: {
        const AttackModel router = router_attack_model(model, spec.domain);
        const std::vector<int> top = top1_experts(model, x);
        o.targets.clear();
        AttackResult r = pgd(router, x, top, o);
        // Judge the whole model at the routing attack's point.
        const AttackModel full = classifier_attack_model(model, spec.domain, spec.k_override);
        const auto pred = argmax_rows(attack_logits(full, r.x_adv));
        const auto clean = argmax_rows(attack_logits(full, x));
        for (std::size_t b = 0; b < y.size(); ++b) {
            r.adv_pred[b] = static_cast<int>(pred[b]);
            r.clean_pred[b] = static_cast<int>(clean[b]);
            r.success[b] = r.adv_pred[b] != y[b];
        }
        return r;
    }
    case Attack::expert: return pgd(frozen_routing_attack_model(model, x, spec.domain), x, y, o);
    case Attack::routing: return routing_attack(model, x, y, routing_options(spec, eps));
    case Attack::fgsm: return fgsm(classifier_attack_model(model, spec.domain, spec.k_override), x, y, o);
    case Attack::pgd: return pgd(classifier_attack_model(model, spec.domain, spec.k_override), x, y, o);
    case Attack::apgd_ce:
    case Attack::apgd_dlr:
        o.loss = spec.attack == Attack::apgd_dlr ? AttackLoss::dlr : AttackLoss::ce;
        return apgd(classifier_attack_model(model, spec.domain, spec.k_override), x, y, o);
    default: throw std::logic_error("run_eps_attack: " + to_string(spec.attack) + " is not an eps-bounded attack");
    }
}

}  // namespace

void validate(const AttackSpec& spec, const Classifier& model) {
    const AttackInfo& a = info(spec.attack);
    spec.options.validate();
    if (spec.batch_size < 1) throw ConfigError("batch-size", "must be >= 1, got " + std::to_string(spec.batch_size));
    for (double e : spec.eps_grid)
        if (!(e >= 0.0) || !std::isfinite(e)) throw ConfigError("eps-grid", "radii must be finite and >= 0");
    const bool moe = !model.moe_layers().empty();
    if (a.needs_moe && !moe) throw ConfigError("attack", "the model has no MoE layer", a.name);
    if (a.norms == AttackNorms::linf_only && spec.options.norm != Norm::linf)
        throw ConfigError("norm", "attack '" + std::string(a.name) + "' searches in linf only, got " + to_string(spec.options.norm));
    if (spec.attack == Attack::routing) {
        if (const std::string why = routing_attack_support(model); !why.empty()) throw ConfigError("attack", why, a.name);
        if (spec.k_override != 0) throw ConfigError("top-k", "the routing attack searches the model as trained (no top-k at inference)");
    }
    if (!spec.target.empty()) {
        if (!a.targetable) throw ConfigError("target", "attack '" + std::string(a.name) + "' has no targeted variant");
        if (spec.target != "next") {
            std::size_t used = 0;
            int t = -1;
            try {
                t = std::stoi(spec.target, &used);
            } catch (const std::exception&) {
            }
            if (used != spec.target.size() || t < 0 || t >= model.config().classes)
                throw ConfigError("target", "expected 'next' or a class in [0, " +
                                            std::to_string(model.config().classes) + "), got '" + spec.target + "'");
        }
    }
    if (spec.attack == Attack::apgd_dlr && model.config().classes < (spec.target.empty() ? 3 : 4))
        throw ConfigError("attack", "needs at least 3 classes (4 when targeted)", "apgd-dlr");
    if (spec.attack == Attack::bisection && spec.options.eps <= 0.0)
        throw ConfigError("eps", "the bisection needs a positive largest radius");
}

namespace {

// One batch: the attack's result and the first MoE layer's expert sets at the reported points.
struct BatchResult {
    AttackResult result;
    std::vector<std::vector<std::int64_t>> after;
};

// swap: no perturbation; the expert of rank spec.swap_rank is replaced by the next-ranked.
BatchResult swap_batch(const Classifier& model, const AttackSpec& spec, const Tensor& x, const std::vector<int>& y,
                       const std::vector<std::int64_t>& clean_pred, const ForwardOptions& live) {
    const auto bn = static_cast<std::size_t>(x.rows());
    ForwardOptions swapped = live;
    swapped.swap_rank = spec.swap_rank;
    NoGradGuard no_grad;
    const auto pred = argmax_rows(model.forward(Var(x), swapped).logits.value());
    BatchResult out;
    AttackResult& result = out.result;
    result.x_adv = x;
    result.clean_pred.assign(clean_pred.begin(), clean_pred.end());
    result.adv_pred.assign(pred.begin(), pred.end());
    result.distance.assign(bn, 0.0);
    result.success.resize(bn);
    for (std::size_t b = 0; b < bn; ++b) result.success[b] = pred[b] != y[b];
    out.after = expert_sets(model, x, swapped);
    return out;
}

BatchResult minimal_batch(const Classifier& model, const AttackSpec& spec, const AttackModel& full, const Tensor& x,
                          const std::vector<int>& y, const ForwardOptions& live) {
    MinimalOptions mo = spec.minimal;
    mo.norm = spec.options.norm;
    mo.eps_max = spec.options.eps;
    mo.inner = spec.options;
    mo.seed = spec.options.seed;
    BatchResult out;
    out.result = spec.attack == Attack::deepfool ? deepfool(full, x, y, mo)
                 : spec.attack == Attack::fmn    ? fmn(full, x, y, mo)
                                                 : pgd_bisection(full, x, y, mo);
    out.after = expert_sets(model, out.result.x_adv, live);
    return out;
}

// An eps-bounded attack at every radius of the grid, from the smallest up; marks robust_at[radius][sample]
// for the batch's samples (b0 on). The reported point is the one found at the smallest radius that fooled
// the model (it lies in every larger ball), else the one at the largest.
BatchResult eps_grid_batch(const Classifier& model, const AttackSpec& spec, const Tensor& x, const std::vector<int>& y,
                           const std::vector<int>& targets, const std::vector<std::int64_t>& clean_pred,
                           const std::vector<double>& grid, std::int64_t b0,
                           std::vector<std::vector<std::uint8_t>>& robust_at, const ForwardOptions& live) {
    const std::int64_t bn = x.rows();
    BatchResult out;
    AttackResult& result = out.result;
    std::vector<std::uint8_t> fooled_so_far(static_cast<std::size_t>(bn), 0);
    for (std::size_t gi = 0; gi < grid.size(); ++gi) {
        AttackResult r = run_eps_attack(model, spec, x, y, targets, grid[gi]);
        for (std::int64_t b = 0; b < bn; ++b) {
            const auto ub = static_cast<std::size_t>(b);
            const bool wrong = r.adv_pred[ub] != y[ub] || clean_pred[ub] != static_cast<std::int64_t>(y[ub]);
            if (wrong) fooled_so_far[ub] = 1;
            robust_at[gi][static_cast<std::size_t>(b0 + b)] = !fooled_so_far[ub];
        }
        if (gi == 0) {
            result = r;
            continue;
        }
        for (std::int64_t b = 0; b < bn; ++b) {
            const auto ub = static_cast<std::size_t>(b);
            const bool keep_earlier = result.adv_pred[ub] != y[ub];
            if (keep_earlier) continue;
            result.adv_pred[ub] = r.adv_pred[ub];
            result.success[ub] = r.success[ub];
            result.distance[ub] = r.distance[ub];
            std::copy(r.x_adv.data() + b * x.cols(), r.x_adv.data() + (b + 1) * x.cols(), result.x_adv.data() + b * x.cols());
        }
    }
    out.after = expert_sets(model, result.x_adv, live);
    return out;
}

}  // namespace

void summarize(RobustnessReport& rep, const AttackSpec& spec) {
    const bool minimal = is_minimal_distance(spec.attack);
    double clean = 0, robust = 0, changed = 0, top1 = 0, full_robust = 0;
    for (const SampleRecord& s : rep.samples) {
        clean += s.clean_pred == s.label;
        changed += s.routing_changed;
        top1 += s.top1_changed;
        full_robust += s.clean_pred == s.label && s.full_model_pred == s.label;
        if (minimal) robust += s.clean_pred == s.label && s.distance > spec.options.eps;
        else robust += s.clean_pred == s.label && s.adv_pred == s.label;
    }
    const double nn = static_cast<double>(std::max<std::size_t>(rep.samples.size(), 1));
    rep.clean_accuracy = clean / nn;
    rep.robust_accuracy = robust / nn;
    rep.routing_change_rate = changed / nn;
    rep.top1_change_rate = top1 / nn;
    rep.full_model_robust_accuracy = full_robust / nn;
    rep.curve.clear();
    if (info(spec.attack).reach == AttackReach::no_perturbation) return;
    if (!minimal) rep.curve.emplace_back(0.0, rep.clean_accuracy);
    const std::vector<double> grid = default_grid(spec);
    for (std::size_t gi = 0; gi < grid.size(); ++gi) {
        double r = 0;
        for (const SampleRecord& s : rep.samples) r += s.robust_at.at(gi);
        rep.curve.emplace_back(grid[gi], r / nn);
    }
}

RobustnessReport run_attack(const Classifier& model, const Dataset& data, const AttackSpec& spec,
                            const std::function<void(long, long)>& progress) {
    validate(spec, model);
    const auto t0 = std::chrono::steady_clock::now();
    const std::int64_t n = data.size(), C = model.config().classes;
    const std::vector<double> grid = default_grid(spec);
    const AttackReach reach = info(spec.attack).reach;
    RobustnessReport rep;
    rep.samples.resize(static_cast<std::size_t>(n));
    rep.x_adv = data.x;
    std::vector<std::vector<std::uint8_t>> robust_at(grid.size(), std::vector<std::uint8_t>(static_cast<std::size_t>(n), 0));
    ForwardOptions live;
    live.k_override = spec.k_override;
    const long batches = static_cast<long>((n + spec.batch_size - 1) / spec.batch_size);
    for (long bi = 0; bi < batches; ++bi) {
        const std::int64_t b0 = bi * spec.batch_size, bn = std::min(spec.batch_size, n - b0);
        const Tensor x = rows_of(data.x, b0, bn);
        const std::vector<int> y(data.y.begin() + b0, data.y.begin() + b0 + bn);
        const std::vector<int> targets = make_targets(spec.target, y, C);
        const auto before = expert_sets(model, x, live);
        const AttackModel full = classifier_attack_model(model, spec.domain, spec.k_override);
        const auto clean_pred = argmax_rows(attack_logits(full, x));
        const BatchResult batch = reach == AttackReach::no_perturbation ? swap_batch(model, spec, x, y, clean_pred, live)
                                  : reach == AttackReach::minimal_distance
                                      ? minimal_batch(model, spec, full, x, y, live)
                                      : eps_grid_batch(model, spec, x, y, targets, clean_pred, grid, b0, robust_at, live);
        const AttackResult& result = batch.result;
        const auto full_pred = argmax_rows(attack_logits(full, result.x_adv));
        std::copy(result.x_adv.data(), result.x_adv.data() + result.x_adv.numel(), rep.x_adv.data() + b0 * x.cols());
        for (std::int64_t b = 0; b < bn; ++b) {
            const auto ub = static_cast<std::size_t>(b);
            SampleRecord& s = rep.samples[static_cast<std::size_t>(b0 + b)];
            s.index = b0 + b;
            s.label = y[ub];
            s.clean_pred = static_cast<int>(clean_pred[ub]);
            s.adv_pred = result.adv_pred[ub];
            s.success = result.success[ub];
            s.distance = result.distance[ub];
            s.experts_before = before[ub];
            s.experts_after = batch.after[ub];
            s.routing_changed = !same_set(before[ub], batch.after[ub]);
            s.top1_changed = !before[ub].empty() && !batch.after[ub].empty() && before[ub].front() != batch.after[ub].front();
            s.full_model_pred = static_cast<int>(full_pred[ub]);
            if (reach == AttackReach::minimal_distance)
                for (std::size_t gi = 0; gi < grid.size(); ++gi)
                    robust_at[gi][static_cast<std::size_t>(b0 + b)] = s.clean_pred == s.label && s.distance > grid[gi];
        }
        if (progress) progress(bi + 1, batches);
    }
    for (std::size_t i = 0; i < rep.samples.size(); ++i)
        for (const auto& at_radius : robust_at) rep.samples[i].robust_at.push_back(at_radius[i]);
    summarize(rep, spec);
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

std::string to_csv(const RobustnessReport& report) {
    std::ostringstream out;
    out.precision(17);
    out << "index,label,clean_pred,adv_pred,success,distance,routing_changed,top1_changed,experts_before,experts_after\n";
    auto join = [](const std::vector<std::int64_t>& v) {
        std::string s;
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) s += '|';
            s += std::to_string(v[i]);
        }
        return s;
    };
    for (const SampleRecord& s : report.samples) {
        out << s.index << "," << s.label << "," << s.clean_pred << "," << s.adv_pred << "," << (s.success ? 1 : 0) << ",";
        if (std::isfinite(s.distance)) out << s.distance;
        else out << "inf";
        out << "," << (s.routing_changed ? 1 : 0) << "," << (s.top1_changed ? 1 : 0) << "," << join(s.experts_before) << "," << join(s.experts_after) << "\n";
    }
    return out.str();
}

nlohmann::json summary_json(const RobustnessReport& report, const AttackSpec& spec, std::int64_t experts) {
    using nlohmann::json;
    json curve = json::array();
    for (const auto& [eps, acc] : report.curve) curve.push_back({{"eps", eps}, {"robust_accuracy", acc}});
    // Per expert (the first MoE layer's clean top-1): how many of its correctly classified samples the
    // attack flips.
    json per_expert = json::array();
    for (std::int64_t e = 0; e < experts; ++e) {
        double samples = 0, correct = 0, robust = 0, changed = 0;
        for (const SampleRecord& s : report.samples) {
            if (s.experts_before.empty() || s.experts_before.front() != e) continue;
            ++samples;
            changed += s.routing_changed;
            if (s.clean_pred != s.label) continue;
            ++correct;
            robust += is_minimal_distance(spec.attack) ? s.distance > spec.options.eps : s.adv_pred == s.label;
        }
        per_expert.push_back({{"expert", e},
                              {"samples", samples},
                              {"clean_correct", correct},
                              {"robust", robust},
                              {"vulnerability", correct > 0 ? json(1.0 - robust / correct) : json()},
                              {"routing_change_rate", samples > 0 ? json(changed / samples) : json()}});
    }
    std::vector<double> found;
    for (const SampleRecord& s : report.samples)
        if (s.clean_pred == s.label && std::isfinite(s.distance) && s.success) found.push_back(s.distance);
    std::sort(found.begin(), found.end());
    json j = {{"attack", to_string(spec.attack)},
              {"norm", to_string(spec.options.norm)},
              {"eps", spec.options.eps},
              {"steps", spec.options.steps},
              {"restarts", spec.options.restarts},
              {"seed", spec.options.seed},
              {"target", spec.target.empty() ? json() : json(spec.target)},
              {"samples", report.samples.size()},
              {"clean_accuracy", report.clean_accuracy},
              {"robust_accuracy", report.robust_accuracy},
              {"robust_accuracy_curve", curve},
              {"routing_change_rate", report.routing_change_rate},
              {"top1_change_rate", report.top1_change_rate},
              {"per_expert", per_expert},
              {"seconds", report.seconds}};
    if (is_minimal_distance(spec.attack))
        j["median_distance_found"] = found.empty() ? json() : json(found[found.size() / 2]);
    if (info(spec.attack).judged_by_full_model)
        j["full_model_robust_accuracy"] = report.full_model_robust_accuracy;
    if (spec.attack == Attack::swap) {
        j["swap_rank"] = spec.swap_rank;
        j["accuracy_change"] = report.robust_accuracy - report.clean_accuracy;
    }
    return j;
}

}  // namespace moelab
