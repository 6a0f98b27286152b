#include "experiments/claims/stats.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/students_t.hpp>

namespace moelab::cli {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double t_quantile(double p, int df) {
    return boost::math::quantile(boost::math::students_t_distribution<double>(static_cast<double>(df)), p);
}

// Mean and sample standard deviation (n - 1 in the denominator), summed in index order.
void moments(const std::vector<double>& v, double& mean, double& sd) {
    double s = 0.0;
    for (double x : v) s += x;
    mean = s / static_cast<double>(v.size());
    double q = 0.0;
    for (double x : v) q += (x - mean) * (x - mean);
    sd = v.size() > 1 ? std::sqrt(q / static_cast<double>(v.size() - 1)) : 0.0;
}

}  // namespace

Interval mean_interval(const std::vector<double>& values, double level) {
    if (values.empty()) throw std::invalid_argument("mean_interval: no values");
    if (!(level > 0.0 && level < 1.0)) throw std::invalid_argument("mean_interval: level must be in (0, 1)");
    for (double x : values)
        if (!std::isfinite(x)) throw std::invalid_argument("mean_interval: a value is not finite");
    Interval i;
    i.n = static_cast<int>(values.size());
    double sd = 0.0;
    moments(values, i.mean, sd);
    if (i.n < 2) {
        i.lo = -kInf;
        i.hi = kInf;
        return i;
    }
    const double h = t_quantile((1.0 + level) / 2.0, i.n - 1) * sd / std::sqrt(static_cast<double>(i.n));
    i.lo = i.mean - h;
    i.hi = i.mean + h;
    return i;
}

Interval paired_difference(const std::vector<double>& a, const std::vector<double>& b, double level) {
    if (a.size() != b.size()) throw std::invalid_argument("paired_difference: the two sides have different seeds");
    std::vector<double> d(a.size());
    for (std::size_t s = 0; s < a.size(); ++s) d[s] = a[s] - b[s];
    return mean_interval(d, level);
}

Interval share_interval(int k, int n, double level) {
    if (n < 1 || k < 0 || k > n) throw std::invalid_argument("share_interval: need 0 <= k <= n and n >= 1");
    if (!(level > 0.0 && level < 1.0)) throw std::invalid_argument("share_interval: level must be in (0, 1)");
    using boost::math::binomial_distribution;
    const double tail = (1.0 - level) / 2.0, trials = static_cast<double>(n), events = static_cast<double>(k);
    Interval i;
    i.n = n;
    i.mean = events / trials;
    i.lo = k == 0 ? 0.0 : binomial_distribution<double>::find_lower_bound_on_p(trials, events, tail);
    i.hi = k == n ? 1.0 : binomial_distribution<double>::find_upper_bound_on_p(trials, events, tail);
    return i;
}

double minimal_detectable_share(int n) { return n < 1 ? kInf : 1.0 - std::pow(0.2, 1.0 / static_cast<double>(n)); }

double minimal_detectable_effect(const std::vector<double>& values) {
    if (values.size() < 2) return kInf;
    double mean = 0.0, sd = 0.0;
    moments(values, mean, sd);
    const int df = static_cast<int>(values.size()) - 1;
    return (t_quantile(0.975, df) + t_quantile(0.80, df)) * sd / std::sqrt(static_cast<double>(values.size()));
}

const char* to_string(Verdict v) {
    switch (v) {
        case Verdict::reproduced: return "reproduced";
        case Verdict::not_reproduced: return "not reproduced";
        case Verdict::inconclusive: return "inconclusive";
    }
    return "?";
}

std::string VerdictRule::describe(const std::string& effect_name) const {
    const std::string t = sig(threshold), what = "reproduced if the 95% interval of " + effect_name;
    switch (direction) {
        case Direction::above: return what + " lies wholly above " + t + ", not reproduced if wholly below, else inconclusive";
        case Direction::below: return what + " lies wholly below " + t + ", not reproduced if wholly above, else inconclusive";
        case Direction::within:
            return what + " lies inside (-" + t + ", " + t + "), not reproduced if wholly outside it, else inconclusive";
    }
    return "";
}

Verdict verdict_on_interval(const Interval& effect, const VerdictRule& rule) {
    const double t = rule.threshold;
    switch (rule.direction) {
        case Direction::above:
            return effect.lo > t ? Verdict::reproduced : effect.hi < t ? Verdict::not_reproduced : Verdict::inconclusive;
        case Direction::below:
            return effect.hi < t ? Verdict::reproduced : effect.lo > t ? Verdict::not_reproduced : Verdict::inconclusive;
        case Direction::within:
            if (effect.lo > -t && effect.hi < t) return Verdict::reproduced;
            return effect.lo > t || effect.hi < -t ? Verdict::not_reproduced : Verdict::inconclusive;
    }
    return Verdict::inconclusive;
}

std::string sig(double v, int digits) {
    if (std::isnan(v)) return "n/a";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    return buf;
}

std::string sig(const Interval& i, int digits) {
    return sig(i.mean, digits) + " [" + sig(i.lo, digits) + ", " + sig(i.hi, digits) + "]";
}

}  // namespace moelab::cli
