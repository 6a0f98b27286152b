// The models attacks see, norms, objectives, projections and the final verification.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "engine/config_error.hpp"
#include "engine/ops.hpp"
#include "theory/attacks/attack_internal.hpp"

namespace moelab {

AttackLoss parse_attack_loss(const std::string& name) {
    if (name == "ce") return AttackLoss::ce;
    if (name == "dlr") return AttackLoss::dlr;
    if (name == "margin") return AttackLoss::margin;
    throw ConfigError("loss", "expected ce, dlr or margin, got '" + name + "'");
}

StepSchedule parse_step_schedule(const std::string& name) {
    if (name == "constant") return StepSchedule::constant;
    if (name == "cosine") return StepSchedule::cosine;
    throw ConfigError("step-schedule", "expected constant or cosine, got '" + name + "'");
}

void AttackOptions::validate() const {
    if (!(eps >= 0.0) || !std::isfinite(eps)) throw ConfigError("eps", "must be a finite number >= 0, got " + std::to_string(eps));
    if (steps < 1) throw ConfigError("steps", "must be >= 1, got " + std::to_string(steps));
    if (!(step_size >= 0.0) || !std::isfinite(step_size))
        throw ConfigError("step-size", "must be >= 0 (0 = 2.5 eps / steps), got " + std::to_string(step_size));
    if (restarts < 1) throw ConfigError("restarts", "must be >= 1, got " + std::to_string(restarts));
}

double AttackResult::success_rate() const {
    if (success.empty()) return 0.0;
    std::size_t n = 0;
    for (auto s : success) n += s;
    return static_cast<double>(n) / static_cast<double>(success.size());
}

AttackModel classifier_attack_model(const Classifier& model, Box domain, std::int64_t k_override) {
    AttackModel m;
    m.domain = domain;
    m.params = &model.params();
    m.logits = [&model, k_override](const Var& x) {
        ForwardOptions o;
        o.k_override = k_override;
        return model.forward(x, o).logits;
    };
    return m;
}

AttackModel frozen_routing_attack_model(const Classifier& model, const Tensor& x_clean, Box domain) {
    if (model.moe_layers().empty()) throw std::invalid_argument("expert attack: the model has no MoE layer");
    std::vector<Routing> frozen;
    {
        NoGradGuard no_grad;
        frozen = model.forward(Var(x_clean)).routings;
    }
    auto routing = std::make_shared<std::vector<Routing>>(std::move(frozen));
    AttackModel m;
    m.domain = domain;
    m.params = &model.params();
    m.logits = [&model, routing](const Var& x) {
        ForwardOptions o;
        o.frozen_routing = routing.get();
        return model.forward(x, o).logits;
    };
    return m;
}

AttackModel router_attack_model(const Classifier& model, Box domain) {
    if (model.moe_layers().empty()) throw std::invalid_argument("router attack: the model has no MoE layer");
    AttackModel m;
    m.domain = domain;
    m.params = &model.params();
    m.logits = [&model](const Var& x) { return model.forward(x).routings.front().logits; };
    return m;
}

std::vector<int> top1_experts(const Classifier& model, const Tensor& x) {
    if (model.moe_layers().empty()) return {};
    NoGradGuard no_grad;
    const ModelOutput out = model.forward(Var(x));
    const Routing& r = out.routings.front();
    std::vector<int> top(static_cast<std::size_t>(r.rows()));
    for (std::int64_t b = 0; b < r.rows(); ++b) top[static_cast<std::size_t>(b)] = static_cast<int>(r.expert[static_cast<std::size_t>(b * r.k)]);
    return top;
}

Tensor attack_logits(const AttackModel& m, const Tensor& x) {
    NoGradGuard no_grad;
    return m.logits(Var(x)).value();
}

namespace attack_detail {

void check_batch(Box domain, const Tensor& x, const std::vector<int>& y, const std::vector<int>& targets, const char* who) {
    if (x.shape().rank() != 2) throw ShapeError(std::string(who) + ": inputs must be [B, d], got " + x.shape().str());
    if (static_cast<std::int64_t>(y.size()) != x.rows())
        throw std::invalid_argument(std::string(who) + ": " + std::to_string(y.size()) + " labels for " +
                                    std::to_string(x.rows()) + " inputs");
    if (!targets.empty() && targets.size() != y.size())
        throw std::invalid_argument(std::string(who) + ": " + std::to_string(targets.size()) + " targets for " +
                                    std::to_string(y.size()) + " inputs");
    for (std::int64_t i = 0; i < x.numel(); ++i) {
        if (!std::isfinite(x[i])) throw std::invalid_argument(std::string(who) + ": input contains NaN or infinity");
        if (x[i] < domain.lo || x[i] > domain.hi) {
            std::ostringstream msg;
            msg << who << ": input " << i / std::max<std::int64_t>(x.cols(), 1) << " has value " << x[i]
                << " outside the domain [" << domain.lo << ", " << domain.hi << "]";
            throw std::invalid_argument(msg.str());
        }
    }
}

std::vector<int> predictions(const Tensor& logits) {
    const auto idx = argmax_rows(logits);
    return {idx.begin(), idx.end()};
}

bool fooled(int pred, int label, const std::vector<int>& targets, std::size_t b) {
    return targets.empty() ? pred != label : pred == targets[b];
}

Tensor input_gradient(const AttackModel& m, const Tensor& x, const Tensor& seed) {
    const GradModeGuard grad_on(true);   // the caller may be inside a NoGradGuard
    std::optional<FrozenParams> frozen;
    if (m.params) frozen.emplace(*m.params);
    Var xv(x, true);
    Var z = m.logits(xv);
    backward(z, seed);
    if (xv.grad().empty()) return Tensor(x.shape(), 0.0);
    return xv.grad();
}

namespace {

// Objective value and its gradient w.r.t. one row of logits z (C classes); all objectives are maximised.
double objective_row(const double* z, std::int64_t C, int y, int target, AttackLoss loss, double* dz) {
    std::fill(dz, dz + C, 0.0);
    auto best_other = [&](int exclude) {
        int j = -1;
        for (int c = 0; c < C; ++c)
            if (c != exclude && (j < 0 || z[c] > z[j])) j = c;
        return j;
    };
    if (loss == AttackLoss::ce) {
        double mx = z[0];
        for (int c = 1; c < C; ++c) mx = std::max(mx, z[c]);
        double s = 0.0;
        for (int c = 0; c < C; ++c) s += std::exp(z[c] - mx);
        const double lse = mx + std::log(s);
        for (int c = 0; c < C; ++c) dz[c] = std::exp(z[c] - lse);
        if (target < 0) {   // maximise CE of the label
            dz[y] -= 1.0;
            return lse - z[y];
        }
        for (int c = 0; c < C; ++c) dz[c] = -dz[c];   // maximise log-probability of the target
        dz[target] += 1.0;
        return z[target] - lse;
    }
    if (loss == AttackLoss::margin) {
        const int keep = target < 0 ? y : target;
        const int j = best_other(keep);
        if (target < 0) {
            dz[j] += 1.0;
            dz[y] -= 1.0;
            return z[j] - z[y];
        }
        dz[target] += 1.0;
        dz[j] -= 1.0;
        return z[target] - z[j];
    }
    // DLR (Croce and Hein 2020): -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3), targeted
    // -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2); pi sorts the logits in decreasing order.
    std::vector<int> order(static_cast<std::size_t>(C));
    for (int c = 0; c < C; ++c) order[static_cast<std::size_t>(c)] = c;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return z[a] > z[b]; });
    const int p1 = order[0], p3 = order[2];
    double num, den;
    std::vector<double> dnum(static_cast<std::size_t>(C), 0.0), dden(static_cast<std::size_t>(C), 0.0);
    if (target < 0) {
        const int j = best_other(y);
        num = z[y] - z[j];
        dnum[static_cast<std::size_t>(y)] += 1.0;
        dnum[static_cast<std::size_t>(j)] -= 1.0;
        den = z[p1] - z[p3] + 1e-12;
        dden[static_cast<std::size_t>(p1)] += 1.0;
        dden[static_cast<std::size_t>(p3)] -= 1.0;
    } else {
        const int p4 = order[3];
        num = z[y] - z[target];
        dnum[static_cast<std::size_t>(y)] += 1.0;
        dnum[static_cast<std::size_t>(target)] -= 1.0;
        den = z[p1] - 0.5 * (z[p3] + z[p4]) + 1e-12;
        dden[static_cast<std::size_t>(p1)] += 1.0;
        dden[static_cast<std::size_t>(p3)] -= 0.5;
        dden[static_cast<std::size_t>(p4)] -= 0.5;
    }
    for (int c = 0; c < C; ++c)
        dz[c] = -dnum[static_cast<std::size_t>(c)] / den + num * dden[static_cast<std::size_t>(c)] / (den * den);
    return -num / den;
}

}  // namespace

namespace {

// The evaluation at the point held by xv (a fresh leaf the caller made from x).
Evaluation evaluate_at(const AttackModel& m, Var& xv, const std::vector<int>& y, AttackLoss loss,
                       const std::vector<int>& targets, bool with_grad) {
    const GradModeGuard grad_mode(with_grad);   // the caller may be inside a NoGradGuard
    std::optional<FrozenParams> frozen;
    if (m.params) frozen.emplace(*m.params);
    Var z = m.logits(xv);
    const std::int64_t B = z.shape()[0], C = z.shape()[1];
    if (loss == AttackLoss::dlr && C < (targets.empty() ? 3 : 4))
        throw ConfigError("loss", "needs at least " + std::string(targets.empty() ? "3" : "4") + " classes, the model has " +
                                  std::to_string(C), "dlr");
    Evaluation e;
    e.logits = z.value();
    e.value.resize(static_cast<std::size_t>(B));
    Tensor seed(z.shape());
    for (std::int64_t b = 0; b < B; ++b) {
        const int label = y[static_cast<std::size_t>(b)];
        if (label < 0 || label >= C)
            throw std::invalid_argument("attack: label " + std::to_string(label) + " outside [0, " + std::to_string(C) + ")");
        const int target = targets.empty() ? -1 : targets[static_cast<std::size_t>(b)];
        e.value[static_cast<std::size_t>(b)] = objective_row(e.logits.data() + b * C, C, label, target, loss, seed.data() + b * C);
    }
    if (!with_grad) return e;
    backward(z, seed);
    // xv is ours: take its gradient buffer instead of copying it.
    e.grad = xv.grad().empty() ? Tensor(xv.shape(), 0.0) : std::move(xv.grad());
    return e;
}

}  // namespace

Evaluation evaluate_objective(const AttackModel& m, const Tensor& x, const std::vector<int>& y, AttackLoss loss,
                              const std::vector<int>& targets, bool with_grad) {
    Var xv(x, with_grad);
    return evaluate_at(m, xv, y, loss, targets, with_grad);
}

Evaluation evaluate_objective_in_place(const AttackModel& m, Tensor& x, const std::vector<int>& y, AttackLoss loss,
                                       const std::vector<int>& targets, bool with_grad) {
    Var xv(std::move(x), with_grad);
    struct GiveBack {   // x comes back even when the model throws
        Var& v;
        Tensor& x;
        ~GiveBack() { x = std::move(v.value()); }
    } give_back{xv, x};
    return evaluate_at(m, xv, y, loss, targets, with_grad);
}

void ascent_direction(const double* g, double* out, std::int64_t d, Norm norm) {
    if (norm == Norm::linf) {
        for (std::int64_t i = 0; i < d; ++i) out[i] = g[i] > 0.0 ? 1.0 : (g[i] < 0.0 ? -1.0 : 0.0);
        return;
    }
    const double n = vector_norm(g, d, Norm::l2);
    for (std::int64_t i = 0; i < d; ++i) out[i] = n > 0.0 ? g[i] / n : 0.0;
}

namespace {

// One row of the L-inf projection: a = clamp(clamp(a, o - e, o + e), lo, hi), then stepped towards o
// while |a - o| > e (o +- e rounds away from o about half the time). The projection runs once per
// attack step on the whole batch, and the element-wise loop with its unpredictable branches cost 4%
// of a PGD attack; GCC does not vectorise it (FP selects may trap), so the AVX2 path is written with
// intrinsics: the clamps as compare-and-blend (the very selects of std::clamp, NaN included) and the
// common fix, a positive value one ulp too far, by its bit pattern exactly as nextafter(a, o).
// Whatever that leaves (zero or negative values, several ulps) goes through the element-wise loop.
void project_row_linf_scalar(double* a, const double* o, double e, double lo, double hi, std::int64_t from,
                             std::int64_t d) {
    for (std::int64_t i = from; i < d; ++i) {
        double v = std::clamp(a[i], o[i] - e, o[i] + e);
        v = std::clamp(v, lo, hi);
        while (std::abs(v - o[i]) > e) v = std::nextafter(v, o[i]);
        a[i] = v;
    }
}

__attribute__((target("avx2"))) void project_row_linf_avx2(double* a, const double* o, double e, double lo,
                                                            double hi, std::int64_t d) {
    const __m256d ve = _mm256_set1_pd(e), vlo = _mm256_set1_pd(lo), vhi = _mm256_set1_pd(hi);
    const __m256d zero = _mm256_setzero_pd(), abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
    const __m256i one = _mm256_set1_epi64x(1);
    __m256d unresolved = _mm256_setzero_pd();
    std::int64_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const __m256d x = _mm256_loadu_pd(a + i), oi = _mm256_loadu_pd(o + i);
        const __m256d l = _mm256_sub_pd(oi, ve), u = _mm256_add_pd(oi, ve);
        __m256d v = _mm256_blendv_pd(x, u, _mm256_cmp_pd(u, x, _CMP_LT_OQ));        // u < a ? u : a
        v = _mm256_blendv_pd(v, l, _mm256_cmp_pd(x, l, _CMP_LT_OQ));                // a < l ? l : ...
        v = _mm256_blendv_pd(v, vhi, _mm256_cmp_pd(vhi, v, _CMP_LT_OQ));            // hi < v ? hi : v
        v = _mm256_blendv_pd(v, vlo, _mm256_cmp_pd(v, vlo, _CMP_LT_OQ));            // v < lo ? lo : ...
        const __m256d over = _mm256_cmp_pd(_mm256_and_pd(_mm256_sub_pd(v, oi), abs_mask), ve, _CMP_GT_OQ);
        const __m256i bits = _mm256_castpd_si256(v);
        const __m256d down = _mm256_cmp_pd(v, oi, _CMP_GT_OQ);
        const __m256d stepped = _mm256_castsi256_pd(
            _mm256_blendv_epi8(_mm256_add_epi64(bits, one), _mm256_sub_epi64(bits, one), _mm256_castpd_si256(down)));
        v = _mm256_blendv_pd(v, stepped, _mm256_and_pd(over, _mm256_cmp_pd(v, zero, _CMP_GT_OQ)));
        _mm256_storeu_pd(a + i, v);
        unresolved = _mm256_or_pd(unresolved, _mm256_cmp_pd(_mm256_and_pd(_mm256_sub_pd(v, oi), abs_mask), ve, _CMP_GT_OQ));
    }
    if (_mm256_movemask_pd(unresolved) != 0)
        for (std::int64_t j = 0; j < i; ++j)
            while (std::abs(a[j] - o[j]) > e) a[j] = std::nextafter(a[j], o[j]);
    project_row_linf_scalar(a, o, e, lo, hi, i, d);
}

void project_row_linf(double* a, const double* o, double e, double lo, double hi, std::int64_t d) {
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2)
        project_row_linf_avx2(a, o, e, lo, hi, d);
    else
        project_row_linf_scalar(a, o, e, lo, hi, 0, d);
}

}  // namespace

void project(Tensor& x_adv, const Tensor& x, const std::vector<double>& eps, Norm norm, Box domain) {
    const std::int64_t B = x.rows(), d = x.cols();
    for (std::int64_t b = 0; b < B; ++b) {
        double* a = x_adv.data() + b * d;
        const double* o = x.data() + b * d;
        const double e = eps[static_cast<std::size_t>(b)];
        if (norm == Norm::linf) {
            project_row_linf(a, o, e, domain.lo, domain.hi, d);
            continue;
        }
        std::vector<double> delta(static_cast<std::size_t>(d));
        for (std::int64_t i = 0; i < d; ++i) delta[static_cast<std::size_t>(i)] = a[i] - o[i];
        double n = vector_norm(delta.data(), d, Norm::l2);
        double scale = n > e ? e / n : 1.0;
        for (int attempt = 0; attempt < 64; ++attempt) {
            for (std::int64_t i = 0; i < d; ++i)
                a[i] = std::clamp(o[i] + scale * delta[static_cast<std::size_t>(i)], domain.lo, domain.hi);
            double s = 0.0;
            for (std::int64_t i = 0; i < d; ++i) s += (a[i] - o[i]) * (a[i] - o[i]);
            if (std::sqrt(s) <= e) break;
            scale *= 1.0 - 1e-15 * (1 << std::min(attempt, 20));
        }
    }
}

Tensor random_start(const Tensor& x, const std::vector<double>& eps, Norm norm, Box domain, const Rng& rng) {
    const std::int64_t B = x.rows(), d = x.cols();
    Tensor out = x;
    for (std::int64_t b = 0; b < B; ++b) {
        const Rng r = rng.split(static_cast<std::uint64_t>(b));
        const double e = eps[static_cast<std::size_t>(b)];
        double* a = out.data() + b * d;
        if (norm == Norm::linf) {
            for (std::int64_t i = 0; i < d; ++i) a[i] += r.uniform(static_cast<std::uint64_t>(i), -e, e);
            continue;
        }
        // Uniform in the L2 ball: a Gaussian direction, radius e * U^(1/d).
        std::vector<double> g(static_cast<std::size_t>(d));
        for (std::int64_t i = 0; i < d; ++i) g[static_cast<std::size_t>(i)] = r.split("direction").normal(static_cast<std::uint64_t>(i));
        const double n = vector_norm(g.data(), d, Norm::l2);
        const double radius = e * std::pow(r.split("radius").uniform(0), 1.0 / static_cast<double>(d));
        for (std::int64_t i = 0; i < d; ++i) a[i] += n > 0.0 ? radius * g[static_cast<std::size_t>(i)] / n : 0.0;
    }
    project(out, x, eps, norm, domain);
    return out;
}

void finish(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const std::vector<int>& targets,
            Norm norm, bool min_distance, AttackResult& r, const std::vector<int>& adv_pred_known) {
    const std::int64_t B = x.rows(), d = x.cols();
    r.clean_pred = predictions(attack_logits(m, x));
    const bool known = adv_pred_known.size() == static_cast<std::size_t>(B) &&
                       std::all_of(adv_pred_known.begin(), adv_pred_known.end(), [](int p) { return p >= 0; });
    r.adv_pred = known ? adv_pred_known : predictions(attack_logits(m, r.x_adv));
    r.success.assign(static_cast<std::size_t>(B), 0);
    r.distance.assign(static_cast<std::size_t>(B), 0.0);
    std::vector<double> delta(static_cast<std::size_t>(d));
    for (std::int64_t b = 0; b < B; ++b) {
        const auto ub = static_cast<std::size_t>(b);
        r.success[ub] = fooled(r.adv_pred[ub], y[ub], targets, ub);
        for (std::int64_t i = 0; i < d; ++i) delta[static_cast<std::size_t>(i)] = r.x_adv[b * d + i] - x[b * d + i];
        r.distance[ub] = vector_norm(delta.data(), d, norm);
        if (min_distance && !r.success[ub]) {
            r.distance[ub] = std::numeric_limits<double>::infinity();
            for (std::int64_t i = 0; i < d; ++i) r.x_adv[b * d + i] = x[b * d + i];
            r.adv_pred[ub] = r.clean_pred[ub];
        }
    }
}

}  // namespace attack_detail
}  // namespace moelab
