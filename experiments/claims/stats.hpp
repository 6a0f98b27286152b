// The statistics behind every claim's verdict: a mean over seeds with its 95% interval (Student's t), paired
// differences, the verdict rule read on the interval, and the smallest effect a run could have detected.
// Internal to experiments/ (the claim drivers and the report).
#pragma once

#include <string>
#include <vector>

namespace moelab::cli {

// The mean of n values (one per seed) and its two-sided interval: mean +- t_{(1+level)/2, n-1} s / sqrt(n).
// n = 1 gives an unbounded interval (lo = -inf, hi = +inf): one seed says nothing about seed-to-seed spread.
struct Interval {
    double mean = 0.0, lo = 0.0, hi = 0.0;
    int n = 0;
    double half_width() const { return (hi - lo) / 2.0; }
};
Interval mean_interval(const std::vector<double>& values, double level = 0.95);
// The interval of the per-seed differences a_s - b_s (the same seeds and data on both sides).
Interval paired_difference(const std::vector<double>& a, const std::vector<double>& b, double level = 0.95);

// The share of n independent trials (seeds) with an event, k of them, and its exact two-sided Clopper-Pearson
// interval: lo solves P(X >= k | lo) = (1 - level) / 2 and hi solves P(X <= k | hi) = (1 - level) / 2 for
// X ~ Binomial(n, p) (lo = 0 at k = 0, hi = 1 at k = n). For a yes/no outcome per seed, where a t-interval on
// 0/1 values would reach below 0 or above 1.
Interval share_interval(int k, int n, double level = 0.95);
// The smallest true share that a run of n trials would tell from 0 (at least one event) with 80% power:
// 1 - 0.2^(1/n).
double minimal_detectable_share(int n);

// The smallest true effect (from the mean) that a run with this interval would detect with 80% power at the 5%
// level: (t_{0.975, n-1} + t_{0.80, n-1}) s / sqrt(n). +inf for n < 2.
double minimal_detectable_effect(const std::vector<double>& values);

enum class Verdict { reproduced, not_reproduced, inconclusive };
const char* to_string(Verdict v);   // "reproduced", "not reproduced", "inconclusive"

// Where the paper puts the effect, and the smallest effect that counts (threshold t >= 0):
//   above    the paper says the effect exceeds t: reproduced if the interval lies wholly above t, not reproduced
//            if wholly below t
//   below    the paper says the effect is under t (e.g. negative): mirror image
//   within   the paper says the effect is negligible: reproduced if the interval lies inside (-t, t), not
//            reproduced if it lies wholly outside [-t, t]
// and inconclusive otherwise.
enum class Direction { above, below, within };
struct VerdictRule {
    Direction direction = Direction::above;
    double threshold = 0.0;
    std::string describe(const std::string& effect_name) const;   // the rule in one sentence
};
Verdict verdict_on_interval(const Interval& effect, const VerdictRule& rule);

// A number for a person: `digits` significant digits, no binary noise ("0.3", "0.04123", "1.234e-05").
std::string sig(double v, int digits = 4);
// "0.412 [0.391, 0.433]".
std::string sig(const Interval& i, int digits = 3);

}  // namespace moelab::cli
