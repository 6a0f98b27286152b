// eps-bounded attacks: FGSM, PGD (random start, restarts, step schedule) and APGD-CE / APGD-DLR.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "theory/attacks/attack_internal.hpp"

namespace moelab {

using namespace attack_detail;

namespace {

// The best point seen per sample: a fooling point beats a non-fooling one; between two of the same
// kind the higher objective wins. Restarts and iterations only ever replace by a better point, so
// more steps or restarts never make an attack weaker.
struct Best {
    Tensor x;
    std::vector<std::uint8_t> fooled;
    std::vector<double> value;
    std::vector<int> pred;   // the model's prediction at x (from the evaluation that offered it); -1: not judged

    Best(const Tensor& x0, std::size_t B)
        : x(x0), fooled(B, 0), value(B, -std::numeric_limits<double>::infinity()), pred(B, -1) {}

    void offer(const Tensor& candidate, const Evaluation& e, const std::vector<int>& y, const std::vector<int>& targets) {
        const std::int64_t d = candidate.cols();
        const auto pred_at = predictions(e.logits);
        for (std::size_t b = 0; b < fooled.size(); ++b) {
            const bool f = attack_detail::fooled(pred_at[b], y[b], targets, b);
            const bool better = (f && !fooled[b]) || (f == static_cast<bool>(fooled[b]) && e.value[b] > value[b]);
            if (!better) continue;
            fooled[b] = f;
            value[b] = e.value[b];
            pred[b] = pred_at[b];
            std::copy(candidate.data() + static_cast<std::int64_t>(b) * d, candidate.data() + static_cast<std::int64_t>(b + 1) * d,
                      x.data() + static_cast<std::int64_t>(b) * d);
        }
    }
};

double scheduled_step(double base, StepSchedule s, int t, int steps) {
    if (s == StepSchedule::constant) return base;
    return base * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(t) / static_cast<double>(steps)));
}

// out += step[b] * direction(g) row by row, in place.
void step_in_place(Tensor& out, const Tensor& g, const std::vector<double>& step, Norm norm) {
    const std::int64_t B = out.rows(), d = out.cols();
    if (norm == Norm::linf) {
        // x + step * sign(g), the step times +1, -1 or 0 written as a select so that the loop vectorises
        // (same numbers: step * 1 = step, step * -1 = -step, step * 0 = 0 for the positive step).
        for (std::int64_t b = 0; b < B; ++b) {
            const double s = step[static_cast<std::size_t>(b)], zero = s * 0.0;
            const double* gb = g.data() + b * d;
            double* ob = out.data() + b * d;
#pragma omp simd
            for (std::int64_t i = 0; i < d; ++i) ob[i] += gb[i] > 0.0 ? s : (gb[i] < 0.0 ? -s : zero);
        }
        return;
    }
    std::vector<double> dir(static_cast<std::size_t>(d));
    for (std::int64_t b = 0; b < B; ++b) {
        ascent_direction(g.data() + b * d, dir.data(), d, norm);
        for (std::int64_t i = 0; i < d; ++i) out[b * d + i] += step[static_cast<std::size_t>(b)] * dir[static_cast<std::size_t>(i)];
    }
}

// x_out = x_in + step[b] * direction(g) row by row.
Tensor step_along(const Tensor& x_in, const Tensor& g, const std::vector<double>& step, Norm norm) {
    Tensor out = x_in;
    step_in_place(out, g, step, norm);
    return out;
}

}  // namespace

AttackResult fgsm(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const AttackOptions& o) {
    o.validate();
    check_batch(m.domain, x, y, o.targets, "fgsm");
    const std::vector<double> eps(static_cast<std::size_t>(x.rows()), o.eps);
    const Evaluation e = evaluate_objective(m, x, y, o.loss, o.targets);
    AttackResult r;
    r.x_adv = step_along(x, e.grad, eps, o.norm);
    project(r.x_adv, x, eps, o.norm, m.domain);
    finish(m, x, y, o.targets, o.norm, false, r);
    return r;
}

AttackResult pgd_per_sample(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const AttackOptions& o,
                            const std::vector<double>& eps) {
    o.validate();
    check_batch(m.domain, x, y, o.targets, "pgd");
    const std::size_t B = static_cast<std::size_t>(x.rows());
    Best best(x, B);
    const Rng rng = Rng(o.seed).split("pgd");
    for (int restart = 0; restart < o.restarts; ++restart) {
        Tensor xa = o.random_start ? random_start(x, eps, o.norm, m.domain, rng.split(static_cast<std::uint64_t>(restart))) : x;
        for (int t = 0;; ++t) {
            // The last iterate is only judged: no gradient needed.
            const Evaluation e = evaluate_objective_in_place(m, xa, y, o.loss, o.targets, t < o.steps);
            best.offer(xa, e, y, o.targets);
            if (t == o.steps) break;
            std::vector<double> step(B);
            for (std::size_t b = 0; b < B; ++b) {
                const double base = o.step_size > 0.0 ? o.step_size : 2.5 * eps[b] / o.steps;
                step[b] = scheduled_step(base, o.schedule, t, o.steps);
            }
            step_in_place(xa, e.grad, step, o.norm);
            project(xa, x, eps, o.norm, m.domain);
        }
    }
    AttackResult r;
    r.x_adv = std::move(best.x);
    finish(m, x, y, o.targets, o.norm, false, r, best.pred);
    return r;
}

AttackResult pgd(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const AttackOptions& o) {
    return pgd_per_sample(m, x, y, o, std::vector<double>(static_cast<std::size_t>(x.rows()), o.eps));
}

namespace {

// APGD's checkpoints w_j = ceil(p_j N) (p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)).
std::vector<int> apgd_checkpoints(int N) {
    std::vector<int> checkpoints;
    std::vector<double> p{0.0, 0.22};
    while (p.back() < 1.0) p.push_back(p.back() + std::max(p.back() - p[p.size() - 2] - 0.03, 0.06));
    for (std::size_t j = 1; j < p.size(); ++j) {
        const int w = static_cast<int>(std::ceil(p[j] * N));
        if (w > 0 && w < N && (checkpoints.empty() || w > checkpoints.back())) checkpoints.push_back(w);
    }
    return checkpoints;
}

// One APGD step's bookkeeping per row: counts an improvement over `previous`, and keeps the best point
// so far with its gradient (f_max, x_max, g_max).
void record_step(const Tensor& x_new, const Evaluation& e_new, const std::vector<double>& previous, std::vector<int>& improved,
                 std::vector<double>& f_max, Tensor& x_max, Tensor& g_max) {
    const std::int64_t d = x_new.cols();
    for (std::size_t b = 0; b < improved.size(); ++b) {
        if (e_new.value[b] > previous[b]) ++improved[b];
        if (e_new.value[b] > f_max[b]) {
            f_max[b] = e_new.value[b];
            const auto row = static_cast<std::int64_t>(b) * d;
            std::copy(x_new.data() + row, x_new.data() + row + d, x_max.data() + row);
            std::copy(e_new.grad.data() + row, e_new.grad.data() + row + d, g_max.data() + row);
        }
    }
}

}  // namespace

AttackResult apgd(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const AttackOptions& o) {
    o.validate();
    check_batch(m.domain, x, y, o.targets, "apgd");
    const std::size_t B = static_cast<std::size_t>(x.rows());
    const std::int64_t d = x.cols();
    const std::vector<double> eps(B, o.eps);
    const int N = o.steps;
    const std::vector<int> checkpoints = apgd_checkpoints(N);
    const double alpha = 0.75, rho = 0.75;
    Best best(x, B);
    const Rng rng = Rng(o.seed).split("apgd");
    for (int restart = 0; restart < o.restarts; ++restart) {
        Tensor x_prev = random_start(x, eps, o.norm, m.domain, rng.split(static_cast<std::uint64_t>(restart)));
        std::vector<double> eta(B, 2.0 * o.eps);
        Evaluation e_prev = evaluate_objective(m, x_prev, y, o.loss, o.targets);
        best.offer(x_prev, e_prev, y, o.targets);
        Tensor x_max = x_prev, g_max = e_prev.grad;
        std::vector<double> f_max = e_prev.value;
        Tensor x_cur = step_along(x_prev, e_prev.grad, eta, o.norm);
        project(x_cur, x, eps, o.norm, m.domain);
        Evaluation e_cur = evaluate_objective(m, x_cur, y, o.loss, o.targets);
        best.offer(x_cur, e_cur, y, o.targets);
        std::vector<int> improved(B, 0);
        record_step(x_cur, e_cur, e_prev.value, improved, f_max, x_max, g_max);
        std::vector<double> eta_at_last = eta, fmax_at_last = f_max;
        int last_checkpoint = 0;
        std::size_t next_cp = 0;
        Tensor g_cur = e_cur.grad;
        for (int k = 1; k < N; ++k) {
            Tensor z = step_along(x_cur, g_cur, eta, o.norm);
            project(z, x, eps, o.norm, m.domain);
            Tensor x_next = x_cur;
            for (std::int64_t i = 0; i < x_next.numel(); ++i)
                x_next[i] = x_cur[i] + alpha * (z[i] - x_cur[i]) + (1.0 - alpha) * (x_cur[i] - x_prev[i]);
            project(x_next, x, eps, o.norm, m.domain);
            const Evaluation e_next = evaluate_objective(m, x_next, y, o.loss, o.targets);
            best.offer(x_next, e_next, y, o.targets);
            record_step(x_next, e_next, e_cur.value, improved, f_max, x_max, g_max);
            x_prev = std::move(x_cur);
            x_cur = std::move(x_next);
            g_cur = e_next.grad;
            e_cur = e_next;
            if (next_cp < checkpoints.size() && k + 1 == checkpoints[next_cp]) {
                const int span = checkpoints[next_cp] - last_checkpoint;
                for (std::size_t b = 0; b < B; ++b) {
                    const bool few_improvements = improved[b] < rho * span;
                    const bool stalled = eta_at_last[b] == eta[b] && fmax_at_last[b] == f_max[b];
                    eta_at_last[b] = eta[b];
                    fmax_at_last[b] = f_max[b];
                    if (few_improvements || stalled) {
                        eta[b] *= 0.5;
                        std::copy(x_max.data() + b * d, x_max.data() + (b + 1) * d, x_cur.data() + b * d);
                        std::copy(g_max.data() + b * d, g_max.data() + (b + 1) * d, g_cur.data() + b * d);
                    }
                    improved[b] = 0;
                }
                last_checkpoint = checkpoints[next_cp++];
            }
        }
    }
    AttackResult r;
    r.x_adv = std::move(best.x);
    finish(m, x, y, o.targets, o.norm, false, r, best.pred);
    return r;
}

}  // namespace moelab
