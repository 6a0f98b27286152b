#include "experiments/bench/exact.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <utility>
#include <vector>

#include "engine/idx.hpp"
#include "engine/ops.hpp"
#include "engine/optim.hpp"
#include "engine/parallel.hpp"
#include "moe/model.hpp"
#include "moe/train.hpp"
#include "theory/exact/exact.hpp"

namespace moelab::bench {

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kRadiusCap = 0.3;

// The model: model-level top-1 MoE, E experts 784 -> H -> 10, 2 epochs, seed 1, the CLI's defaults
// otherwise (Adam 1e-3, batch 128, balanced routing).
std::unique_ptr<Classifier> trained_model(std::int64_t hidden, std::int64_t experts, const Dataset& train_set, const Dataset& test_set) {
    ModelConfig c;
    c.kind = ModelKind::moe_model;
    c.input_dim = 784;
    c.classes = 10;
    c.hidden = hidden;
    c.experts = experts;
    c.top_k = 1;
    c.seed = 1;
    auto model = std::make_unique<Classifier>(c);
    TrainConfig t;
    t.epochs = 2;
    t.seed = 1;
    Optimizer optimizer(model->params(), t.optimizer);
    TrainState state;
    train(*model, optimizer, train_set, test_set, t, state);
    return model;
}

// The q-quantile by the nearest-rank rule (q = 0.5 of an even count: the mean of the middle two).
double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    if (q == 0.5 && n % 2 == 0) return 0.5 * (v[n / 2 - 1] + v[n / 2]);
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
    return v[std::min(n - 1, rank == 0 ? 0 : rank - 1)];
}

// CPU time of this process: one thread here, so on a shared machine it leaves out the time spent
// descheduled, which wall time does not.
double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Row {
    std::vector<double> seconds, cpu_seconds;
    int optimal = 0, beyond_cap = 0, bounds_only = 0;
    double accuracy = 0.0;
};

Row measure(std::int64_t hidden, std::int64_t experts, const Dataset& train_set, const Dataset& test_set,
            const ExactBenchOptions& o) {
    const std::unique_ptr<Classifier> trained = trained_model(hidden, experts, train_set, test_set);
    const Classifier& model = *trained;
    Row row;
    row.accuracy = evaluate(model, test_set).accuracy;
    ExactOptions eo;
    eo.radius_cap = kRadiusCap;
    eo.domain = Box{0.0, 1.0};
    if (!o.milp_solver.empty()) eo.backend = parse_milp_backend(o.milp_solver);
    for (std::int64_t s = 0; s < o.images; ++s) {
        Tensor x(Shape{1, 784});
        std::copy(test_set.x.data() + s * 784, test_set.x.data() + (s + 1) * 784, x.data());
        int label = 0;
        {
            NoGradGuard no_grad;
            label = static_cast<int>(argmax_rows(model.forward(Var(x)).logits.value())[0]);
        }
        const auto t0 = Clock::now();
        const double cpu0 = cpu_seconds();
        const ExactResult r = exact_min_distance_linf(model, x, label, eo);
        row.cpu_seconds.push_back(cpu_seconds() - cpu0);
        row.seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        row.optimal += r.status == ExactStatus::optimal;
        row.beyond_cap += r.status == ExactStatus::beyond_cap;
        row.bounds_only += r.status == ExactStatus::bounds_only;
    }
    return row;
}

}  // namespace

nlohmann::json run_exact_w7(const ExactBenchOptions& o) {
    nlohmann::json records = nlohmann::json::array();
    const std::string dir = kFashionMnistDir;
    if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) {
        std::cerr << "bench: W7 skipped (needs Debian's dataset-fashion-mnist)\n";
        return records;
    }
    set_threads(1);
    const Dataset train_set = load_fashion_mnist(dir, true), test_set = load_fashion_mnist(dir, false);
    std::printf("\n%-4s %6s %7s %6s %9s %9s %8s %s\n", "work", "hidden", "experts", "images", "cpu_med_s", "cpu_p90_s",
                "optimal", "(beyond cap / bounds only; test accuracy)");
    // Width at E = 4, then experts at H = 32 (the E = 4, H = 32 model is shared).
    const std::vector<std::pair<std::int64_t, std::int64_t>> sizes{{32, 4}, {64, 4}, {32, 2}, {32, 8}};
    for (const auto& [hidden, experts] : sizes) {
        const Row row = measure(hidden, experts, train_set, test_set, o);
        const double n = static_cast<double>(row.seconds.size());
        const double med = quantile(row.cpu_seconds, 0.5), p90 = quantile(row.cpu_seconds, 0.9);
        std::printf("%-4s %6lld %7lld %6lld %9.3f %9.3f %8.2f (%d / %d; %.4f)\n", "W7", static_cast<long long>(hidden),
                    static_cast<long long>(experts), static_cast<long long>(o.images), med, p90, row.optimal / n,
                    row.beyond_cap, row.bounds_only, row.accuracy);
        std::fflush(stdout);
        records.push_back({{"workload", "W7"}, {"hidden", hidden}, {"experts", experts}, {"images", o.images},
                           {"radius_cap", kRadiusCap}, {"median_s", med}, {"p90_s", p90},
                           {"optimal_fraction", row.optimal / n}, {"beyond_cap", row.beyond_cap},
                           {"bounds_only", row.bounds_only}, {"test_accuracy", row.accuracy},
                           {"wall_median_s", quantile(row.seconds, 0.5)}, {"wall_p90_s", quantile(row.seconds, 0.9)},
                           {"milp_solver", o.milp_solver.empty() ? to_string(kDefaultMilpBackend) : o.milp_solver},
                           {"cpu_seconds", row.cpu_seconds}, {"wall_seconds", row.seconds}});
    }
    return records;
}

}  // namespace moelab::bench
