#include "theory/bounds/smoothing.hpp"

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/normal.hpp>

#include <cmath>
#include <stdexcept>

#include "engine/config_error.hpp"
#include "engine/ops.hpp"
#include "theory/network/finite_guard.hpp"

namespace moelab {

void SmoothingOptions::validate() const {
    if (!(sigma > 0.0) || !std::isfinite(sigma)) throw ConfigError("sigma", "must be positive and finite");
    if (n0 < 1) throw ConfigError("n0", "must be >= 1");
    if (n < 1) throw ConfigError("n", "must be >= 1");
    if (!(alpha > 0.0 && alpha < 1.0)) throw ConfigError("alpha", "must be in (0, 1)");
    if (batch < 1) throw ConfigError("batch-size", "must be >= 1");
}

double clopper_pearson_lower(std::int64_t successes, std::int64_t trials, double alpha) {
    if (successes <= 0) return 0.0;
    const boost::math::beta_distribution<double> beta(static_cast<double>(successes),
                                                      static_cast<double>(trials - successes + 1));
    return boost::math::quantile(beta, alpha);
}

namespace {

// Class counts of the model on `count` noisy copies of row x (noise counters start at `offset`).
std::vector<std::int64_t> noisy_counts(const Classifier& model, const double* x, std::int64_t d, std::int64_t classes,
                                       const Rng& rng, std::int64_t offset, std::int64_t count, double sigma,
                                       std::int64_t batch) {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(classes), 0);
    NoGradGuard no_grad;
    for (std::int64_t done = 0; done < count; done += batch) {
        const std::int64_t m = std::min(batch, count - done);
        Tensor noisy(Shape{m, d});
        for (std::int64_t r = 0; r < m; ++r)
            for (std::int64_t i = 0; i < d; ++i)
                noisy.at(r, i) = x[i] + sigma * rng.normal(static_cast<std::uint64_t>((offset + done + r) * d + i));
        const auto pred = argmax_rows(model.forward(Var(noisy)).logits.value());
        for (auto c : pred) ++counts[static_cast<std::size_t>(c)];
    }
    return counts;
}

}  // namespace

std::vector<SmoothedCertificate> certify_smoothing(const Classifier& model, const Tensor& x, const std::vector<int>& y,
                                                   const SmoothingOptions& o, std::int64_t first_index) {
    o.validate();
    require_finite_weights(model);   // NaN logits have no argmax: the counts would be an artefact
    const std::int64_t B = x.rows(), d = x.cols(), C = model.config().classes;
    std::vector<SmoothedCertificate> out(static_cast<std::size_t>(B));
    const boost::math::normal_distribution<double> normal;
    for (std::int64_t b = 0; b < B; ++b) {
        const Rng rng = Rng(o.seed).split("smoothing").split(static_cast<std::uint64_t>(first_index + b));
        const auto select = noisy_counts(model, x.data() + b * d, d, C, rng, 0, o.n0, o.sigma, o.batch);
        std::int64_t c_a = 0;
        for (std::int64_t c = 1; c < C; ++c)
            if (select[static_cast<std::size_t>(c)] > select[static_cast<std::size_t>(c_a)]) c_a = c;
        const auto est = noisy_counts(model, x.data() + b * d, d, C, rng, o.n0, o.n, o.sigma, o.batch);
        SmoothedCertificate& s = out[static_cast<std::size_t>(b)];
        s.p_lower = clopper_pearson_lower(est[static_cast<std::size_t>(c_a)], o.n, o.alpha);
        if (s.p_lower > 0.5) {
            s.predicted = static_cast<int>(c_a);
            if (s.predicted == y[static_cast<std::size_t>(b)]) s.radius = o.sigma * boost::math::quantile(normal, s.p_lower);
        }
    }
    return out;
}

}  // namespace moelab
