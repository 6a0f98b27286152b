#include "experiments/bench/scaling.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <utility>

#include "engine/parallel.hpp"
#include "moe/model.hpp"
#include "theory/exact/exact.hpp"
#include "theory/bounds/ibp.hpp"
#include "theory/bounds/lipschitz.hpp"
#include "theory/bounds/smoothing.hpp"

namespace moelab::bench {

namespace {

using Clock = std::chrono::steady_clock;

double rss_mb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;
}

template <class F>
double time_ms(F&& f) {
    const auto t0 = Clock::now();
    f();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Least-squares slope of log(t) against log(n).
double growth_exponent(const std::vector<std::pair<double, double>>& pts) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    const double n = static_cast<double>(pts.size());
    for (const auto& [x, t] : pts) {
        const double lx = std::log(x), ly = std::log(t);
        sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
    }
    return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

ModelConfig w2_like() {
    ModelConfig c;
    c.kind = ModelKind::moe;
    c.input_dim = 784;
    c.classes = 10;
    c.width = 128;
    c.hidden = 256;
    c.experts = 8;
    c.top_k = 2;
    c.seed = 1;
    return c;
}

// W5: certified radii on the W2 model, per method, against the number of samples.
void run_w5(const BenchData& data, int threads, nlohmann::json& records) {
    using nlohmann::json;
    // W5: certified radii on the W2 model for 250, 500, 1000 test images.
    const Classifier model(w2_like());
    const Network net = network_of(model);
    std::vector<int> labels;
    {
        NoGradGuard no_grad;
        const auto p = argmax_rows(model.forward(Var(data.test_x)).logits.value());
        labels.assign(p.begin(), p.end());
    }
    // (The Lipschitz-margin certificate does not cover a top-2 softmax-gated MoE: not timed.)
    SmoothingOptions smoothing;
    smoothing.n0 = 20;
    smoothing.n = 100;
    using Certify = std::function<void(const Tensor&, const std::vector<int>&)>;
    const std::vector<std::pair<std::string, Certify>> methods{
        {"ibp", [&](const Tensor& x, const std::vector<int>& y) { ibp_certified_radii(net, x, y, Box{0.0, 1.0}); }},
        {"smoothing-n100", [&](const Tensor& x, const std::vector<int>& y) { certify_smoothing(model, x, y, smoothing); }}};
    for (const auto& [method, certify] : methods) {
        std::vector<std::pair<double, double>> pts;
        for (std::int64_t n : {250, 500, 1000}) {
            Tensor x(Shape{n, 784});
            std::memcpy(x.data(), data.test_x.data(), static_cast<std::size_t>(n * 784) * sizeof(double));
            const std::vector<int> y(labels.begin(), labels.begin() + n);
            const double ms = time_ms([&] { certify(x, y); });
            pts.emplace_back(static_cast<double>(n), ms);
            std::printf("%-4s %-22s %8lld %12.1f %10.3f\n", "W5", method.c_str(), static_cast<long long>(n), ms, ms / static_cast<double>(n));
            records.push_back({{"workload", "W5"}, {"method", method}, {"samples", n}, {"threads", threads}, {"moelab_ms", ms},
                               {"torch_ms", nullptr}, {"gemm_ms", nullptr}, {"peak_rss_mb", rss_mb()}});
        }
        records.back()["growth_exponent_in_samples"] = growth_exponent(pts);
        std::printf("     %-22s growth exponent in samples: %.2f\n", method.c_str(), growth_exponent(pts));
    }
}

// W6: the exact MILP on a small MoE, against hidden width and number of experts.
void run_w6(int threads, nlohmann::json& records) {
    using nlohmann::json;
    // W6: exact minimal L-inf distance, input 16-D, top-1 model-level MoE, experts 16 -> h -> 3.
    auto exact_ms = [&](std::int64_t hidden, std::int64_t experts) {
        ModelConfig c;
        c.kind = ModelKind::moe_model;
        c.input_dim = 16;
        c.classes = 3;
        c.hidden = hidden;
        c.experts = experts;
        c.top_k = 1;
        c.seed = 3;
        const Classifier m(c);
        const Rng rng(7);
        double total = 0.0;
        const int samples = 5;
        for (int s = 0; s < samples; ++s) {
            Tensor x(Shape{1, 16});
            for (std::int64_t i = 0; i < 16; ++i) x[i] = rng.split(static_cast<std::uint64_t>(s)).normal(static_cast<std::uint64_t>(i));
            NoGradGuard no_grad;
            const int y = static_cast<int>(argmax_rows(m.forward(Var(x)).logits.value())[0]);
            ExactOptions o;
            o.radius_cap = 2.0;
            o.time_limit_s = 30.0;
            total += time_ms([&] { exact_min_distance_linf(m, x, y, o); });
        }
        return total / samples;
    };
    for (const auto& [what, sizes] : std::vector<std::pair<std::string, std::vector<std::int64_t>>>{
             {"hidden", {8, 16, 32}}, {"experts", {2, 4, 8}}}) {
        std::vector<std::pair<double, double>> pts;
        for (std::int64_t v : sizes) {
            const std::int64_t hidden = what == "hidden" ? v : 16, experts = what == "experts" ? v : 4;
            const double ms = exact_ms(hidden, experts);
            pts.emplace_back(static_cast<double>(v), ms);
            std::printf("%-4s %-22s %8lld %12.1f %10.3f\n", "W6", ("exact, " + what).c_str(), static_cast<long long>(v), ms, ms);
            records.push_back({{"workload", "W6"}, {"vary", what}, {"hidden", hidden}, {"experts", experts}, {"threads", threads},
                               {"moelab_ms", ms}, {"per", "sample"}, {"torch_ms", nullptr}, {"gemm_ms", nullptr}, {"peak_rss_mb", rss_mb()}});
        }
        records.back()["growth_exponent_in_" + what] = growth_exponent(pts);
        std::printf("     exact vs %-13s growth exponent: %.2f\n", what.c_str(), growth_exponent(pts));
    }
}

}  // namespace

nlohmann::json run_scaling(const BenchData& data, int threads, const std::vector<std::string>& ids) {
    const auto wants = [&](const char* id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); };
    using nlohmann::json;
    set_threads(threads);
    json records = json::array();
    if (wants("W5") || wants("W6"))
        std::printf("\n%-4s %-22s %8s %12s %10s\n", "work", "method / size", "n", "ms", "ms/sample");
    if (wants("W5")) run_w5(data, threads, records);
    if (wants("W6")) run_w6(threads, records);
    return records;
}

}  // namespace moelab::bench
