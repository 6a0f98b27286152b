#include "theory/local_lipschitz.hpp"

#include <algorithm>
#include <stdexcept>

#include "engine/ops.hpp"
#include "theory/attack_internal.hpp"

namespace moelab {

std::vector<double> local_lipschitz_lower(const Classifier& model, const Tensor& points, Norm p, double radius, int rounds,
                                          std::uint64_t seed) {
    if (rounds < 1) throw std::invalid_argument("local_lipschitz_lower: rounds must be >= 1");
    if (!(radius >= 0.0)) throw std::invalid_argument("local_lipschitz_lower: radius must be >= 0");
    const std::int64_t B = points.rows(), d = points.cols(), C = model.config().classes;
    const AttackModel m = classifier_attack_model(model, Box{});
    const Rng rng = Rng(seed).split("local_lipschitz");
    const std::vector<std::int64_t> label = argmax_rows(attack_logits(m, points));
    std::vector<double> L(static_cast<std::size_t>(B), 0.0);
    for (int round = 0; round < rounds; ++round) {
        Tensor x = points;
        if (round > 0) {
            const Rng r = rng.split(static_cast<std::uint64_t>(round));
            for (std::int64_t i = 0; i < x.numel(); ++i) x[i] += r.uniform(static_cast<std::uint64_t>(i), -radius, radius);
        }
        const Tensor z = attack_logits(m, x);
        for (std::int64_t c = 0; c < C; ++c) {
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

}  // namespace moelab
