#include "theory/bounds/lipschitz_lower.hpp"

#include <algorithm>
#include <stdexcept>

#include "engine/ops.hpp"
#include "theory/attacks/attack_internal.hpp"

namespace moelab {

namespace {

// Which class a probe's margins are taken against: the prediction at the probe itself, or the one at the
// clean point it was drawn around.
enum class Anchor { probe, centre };

// Per row: the largest ||grad (F_y - F_c)||_dual over the row's probes (the point, then rounds - 1 uniform
// points of the L-inf ball of `radius`) and classes c != y.
std::vector<double> gradient_norms(const AttackModel& m, const Tensor& points, Norm p, double radius, int rounds,
                                   const Rng& rng, Anchor anchor) {
    const std::int64_t B = points.rows(), d = points.cols();
    const std::vector<std::int64_t> centre_label = anchor == Anchor::centre ? argmax_rows(attack_logits(m, points))
                                                                             : std::vector<std::int64_t>{};
    std::vector<double> L(static_cast<std::size_t>(B), 0.0);
    for (int round = 0; round < rounds; ++round) {
        Tensor x = points;
        if (round > 0) {
            const Rng r = rng.split(static_cast<std::uint64_t>(round));
            for (std::int64_t i = 0; i < x.numel(); ++i) x[i] += r.uniform(static_cast<std::uint64_t>(i), -radius, radius);
        }
        const Tensor z = attack_logits(m, x);
        const std::vector<std::int64_t> label = anchor == Anchor::probe ? argmax_rows(z) : centre_label;
        for (std::int64_t c = 0; c < z.cols(); ++c) {
            Tensor seed_t(z.shape(), 0.0);
            bool any = false;
            for (std::int64_t b = 0; b < B; ++b) {
                const std::int64_t y = label[static_cast<std::size_t>(b)];
                if (c == y) continue;
                seed_t.at(b, y) = 1.0;
                seed_t.at(b, c) = -1.0;
                any = true;
            }
            if (!any) continue;
            const Tensor g = attack_detail::input_gradient(m, x, seed_t);
            for (std::int64_t b = 0; b < B; ++b) {
                if (c == label[static_cast<std::size_t>(b)]) continue;
                L[static_cast<std::size_t>(b)] = std::max(L[static_cast<std::size_t>(b)], dual_norm(g.data() + b * d, d, p));
            }
        }
    }
    return L;
}

// Across routing boundaries: DeepFool on the router finds a point just past the boundary; step back a
// hair along the segment and compare the outputs on the two sides.
void routing_jumps(const Classifier& model, const AttackModel& m, const Tensor& points, Norm p, LipschitzLower& low) {
    const std::int64_t B = points.rows(), d = points.cols(), C = model.config().classes;
    const AttackModel router = router_attack_model(model, Box{});
    const std::vector<int> top = top1_experts(model, points);
    MinimalOptions o;
    o.norm = p;
    const AttackResult r = deepfool(router, points, top, o);
    for (std::int64_t b = 0; b < B; ++b) {
        if (!r.success[static_cast<std::size_t>(b)] || !(r.distance[static_cast<std::size_t>(b)] > 0.0)) continue;
        Tensor after(Shape{1, d}), before(Shape{1, d});
        const double t = 1.0 - 1e-7;
        for (std::int64_t i = 0; i < d; ++i) {
            after[i] = r.x_adv.at(b, i);
            before[i] = points.at(b, i) + t * (after[i] - points.at(b, i));
        }
        const Tensor za = attack_logits(m, after), zb = attack_logits(m, before);
        std::vector<double> dz(static_cast<std::size_t>(C)), dx(static_cast<std::size_t>(d));
        for (std::int64_t c = 0; c < C; ++c) dz[static_cast<std::size_t>(c)] = za[c] - zb[c];
        for (std::int64_t i = 0; i < d; ++i) dx[static_cast<std::size_t>(i)] = after[i] - before[i];
        const double step = vector_norm(dx.data(), d, p);
        if (step <= 0.0) continue;
        ++low.boundaries;
        low.discontinuity = std::max(low.discontinuity, vector_norm(dz.data(), C, Norm::linf) / step);
    }
}

}  // namespace

LipschitzLower lipschitz_lower(const Classifier& model, const Tensor& points, Norm p, std::uint64_t seed) {
    LipschitzLower low;
    const AttackModel m = classifier_attack_model(model, Box{});
    const Rng rng = Rng(seed).split("lipschitz_lower");
    for (double g : gradient_norms(m, points, p, 0.05, 5, rng, Anchor::probe)) low.gradient = std::max(low.gradient, g);
    if (!model.moe_layers().empty()) routing_jumps(model, m, points, p, low);
    return low;
}

std::vector<double> local_lipschitz_lower(const Classifier& model, const Tensor& points, Norm p, double radius, int rounds,
                                          std::uint64_t seed) {
    if (rounds < 1) throw std::invalid_argument("local_lipschitz_lower: rounds must be >= 1");
    if (!(radius >= 0.0)) throw std::invalid_argument("local_lipschitz_lower: radius must be >= 0");
    const AttackModel m = classifier_attack_model(model, Box{});
    return gradient_norms(m, points, p, radius, rounds, Rng(seed).split("local_lipschitz"), Anchor::centre);
}

}  // namespace moelab
