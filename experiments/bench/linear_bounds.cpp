#include "experiments/bench/linear_bounds.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "engine/idx.hpp"
#include "engine/optim.hpp"
#include "engine/parallel.hpp"
#include "moe/model.hpp"
#include "moe/train.hpp"
#include "theory/bounds/certify_methods.hpp"
#include "theory/attacks/attack.hpp"
#include "theory/check/check_internal.hpp"
#include "theory/check/checker.hpp"

namespace moelab::bench {

namespace {

struct W8Model {
    const char* name;
    ModelKind kind;
    std::int64_t experts, top_k, width, hidden;
};

// The models: the CLI's defaults (width 128, hidden 256) for the MoEs; the MLP closest to 784-32-32-10.
constexpr W8Model kModels[] = {
    {"mlp 784-32-32-32-10", ModelKind::mlp, 1, 1, 32, 32},
    {"moe E=4 k=1", ModelKind::moe, 4, 1, 128, 256},
    {"moe E=8 k=2", ModelKind::moe, 8, 2, 128, 256},
};

std::unique_ptr<Classifier> trained(const W8Model& m, const Dataset& train_set, const Dataset& test_set) {
    ModelConfig c;
    c.kind = m.kind;
    c.experts = m.experts;
    c.top_k = m.top_k;
    c.width = m.width;
    c.hidden = m.hidden;
    c.gate = GateMode::softmax_then_topk;
    c.seed = 1;
    auto model = std::make_unique<Classifier>(c);
    TrainConfig t;
    t.epochs = 3;
    t.seed = 1;
    Optimizer optimizer(model->params(), t.optimizer);
    TrainState state;
    train(*model, optimizer, train_set, test_set, t, state);
    return model;
}

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
    if (v.empty()) return std::nan("");
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

nlohmann::json run_linear_w8(const LinearBenchOptions& o) {
    nlohmann::json records = nlohmann::json::array();
    const std::string dir = kFashionMnistDir;
    if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) {
        std::cerr << "bench: W8 skipped (needs Debian's dataset-fashion-mnist)\n";
        return records;
    }
    set_threads(1);
    const Dataset train_set = load_fashion_mnist(dir, true, 12000), test_set = load_fashion_mnist(dir, false);
    const Dataset images = subset(test_set, 0, o.images);
    std::printf("\n%-4s %-20s %-12s %7s %10s %10s %9s\n", "work", "model", "method", "images", "med_ratio", "med_radius",
                "cpu_s/img");
    for (const W8Model& m : kModels) {
        const std::unique_ptr<Classifier> model = trained(m, train_set, test_set);
        // The best distance of check's three minimal-distance attacks (without its routing attack, whose linear
        // programs cost tens of seconds per image on these models: they are `check`'s, not the bounds').
        CheckOptions co;
        co.domain = kImageBox;
        co.exact = false;
        const AttackModel attack_model = classifier_attack_model(*model, co.domain);
        const auto clean = argmax_rows(attack_logits(attack_model, images.x));
        const check_detail::AttackDistances attack = check_detail::best_attack_distances(attack_model, images, clean, co);
        for (const CertifyMethod method : {CertifyMethod::ibp, CertifyMethod::crown_ibp, CertifyMethod::crown, CertifyMethod::alpha_crown}) {
            CertifySettings s;
            s.domain = kImageBox;
            const double t0 = cpu_seconds();
            const MethodRadii radii = certify_by_method(method, *model, images, Norm::linf, s);
            const double per_image = (cpu_seconds() - t0) / static_cast<double>(o.images);
            std::vector<double> ratio, radius;
            for (std::size_t i = 0; i < radii.radius.size(); ++i) {
                const double a = attack.distance[i];
                if (clean[i] != images.y[i] || !std::isfinite(a) || !(a > 0.0)) continue;
                ratio.push_back(radii.radius[i] / a);
                radius.push_back(radii.radius[i]);
            }
            std::printf("%-4s %-20s %-12s %7lld %10.3f %10.5f %9.4f\n", "W8", m.name, to_string(method).c_str(),
                        static_cast<long long>(o.images), median(ratio), median(radius), per_image);
            std::fflush(stdout);
            records.push_back({{"workload", "W8"}, {"model", m.name}, {"method", to_string(method)}, {"images", o.images},
                               {"correct_with_attack", ratio.size()}, {"median_ratio", median(ratio)},
                               {"median_radius", median(radius)}, {"cpu_s_per_image", per_image}});
        }
    }
    return records;
}

}  // namespace moelab::bench
