// Claim C4 of P1 (Puigcerver et al., NeurIPS 2022) on Fashion-MNIST: replacing a selected expert by the next-ranked
// one changes accuracy little, on a load-balanced MoE with two MoE layers, one layer at a time.
#include <algorithm>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "engine/ops.hpp"
#include "experiments/claims/common.hpp"
#include "experiments/claims/drivers.hpp"

using nlohmann::json;

namespace moelab::cli {

namespace {

const std::string kFashion = "fashion-mnist";

// Accuracy on `test` under forward options (the swap of one layer's expert).
double accuracy_with(const Classifier& model, const Dataset& test, const ForwardOptions& opt) {
    NoGradGuard no_grad;
    std::int64_t right = 0;
    for (std::int64_t begin = 0; begin < test.size(); begin += 500) {
        const Dataset b = subset(test, begin, std::min<std::int64_t>(500, test.size() - begin));
        const std::vector<std::int64_t> pred = argmax_rows(model.forward(Var(b.x), opt).logits.value());
        for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == b.y[i];
    }
    return static_cast<double>(right) / static_cast<double>(test.size());
}

struct SwapSetting {
    std::int64_t layer, rank;
};
const std::vector<SwapSetting> kSwaps{{0, 0}, {0, 1}, {1, 0}, {1, 1}};

std::string swap_name(const SwapSetting& s) {
    return "layer " + std::to_string(s.layer + 1) + ": rank " + std::to_string(s.rank + 1) + " -> rank 3";
}

}  // namespace

ClaimOutcome run_c4(const std::string& dir, const ReproProfile& p) {
    ClaimOutcome o;
    const DataSplits data = load_data(kFashion, p.train_limit, p.test_samples);
    std::vector<double> worst, clean;
    std::vector<std::vector<double>> change(kSwaps.size());
    json per_seed = json::array();
    for (std::uint64_t seed : p.seeds) {
        ModelConfig mc = fashion_moe_config();
        mc.depth = 2;   // both blocks MoE
        mc.seed = seed;
        TrainConfig tc = fashion_train_config(p);
        tc.seed = seed;
        const std::string name = seeded("fashion-moe2", seed);
        const auto model = trained(root_of(dir), name, mc, tc, kFashion, data);
        o.usage.push_back(usage_of(name, *model, data.test.x));
        clean.push_back(accuracy_with(*model, data.test, {}));
        double w = 0.0;
        json swaps = json::array();
        for (std::size_t s = 0; s < kSwaps.size(); ++s) {
            ForwardOptions opt;
            opt.swap_layer = kSwaps[s].layer;
            opt.swap_rank = kSwaps[s].rank;
            const double acc = accuracy_with(*model, data.test, opt);
            change[s].push_back(acc - clean.back());
            w = std::min(w, acc - clean.back());
            swaps.push_back({{"layer", kSwaps[s].layer}, {"rank_replaced", kSwaps[s].rank}, {"accuracy", acc}});
        }
        worst.push_back(w);
        per_seed.push_back({{"seed", seed}, {"clean_accuracy", clean.back()}, {"swaps", swaps}, {"worst_change", w}});
    }
    ResultsTable t{"Mean over seeds [95% interval]: accuracy as routed, and its change when one layer's selected "
                   "expert is replaced by that layer's next-ranked (third) expert.",
                   {"setting", "accuracy change"}, {{"as routed (accuracy)", sig(mean_interval(clean))}}};
    std::ostringstream csv;
    csv << "setting,accuracy\n\"as routed\"," << mean_interval(clean).mean << "\n";
    for (std::size_t s = 0; s < kSwaps.size(); ++s) {
        const Interval c = mean_interval(change[s]);
        t.rows.push_back({swap_name(kSwaps[s]), sig(c)});
        csv << "\"" << swap_name(kSwaps[s]) << "\"," << mean_interval(clean).mean + c.mean << "\n";
    }
    write_file_atomic(dir + "/swap.csv", csv.str());
    plot("claim_c4.gp", dir);
    o.tables.push_back(t);
    o.figure = "swap.png";
    o.paper = "P1: replacing a selected expert by the next-ranked one changed accuracy little (the experts are "
              "redundant enough).";
    o.effect = "largest accuracy change over the four one-layer swaps, per seed";
    o.interval = mean_interval(worst);
    o.rule = {Direction::within, 0.05};   // within 5 accuracy points counts as "little"
    o.seeds = p.seeds;
    o.budget = std::to_string(p.epochs) + " epochs on " + training_images(p.train_limit) + " images; " +
               std::to_string(p.test_samples) + " test images";
    o.setup = "Data: Fashion-MNIST, " + training_images(p.train_limit) + " training images, " +
              std::to_string(p.test_samples) + " test images. Model: layer-level MoE with two MoE blocks (stem 784-128, "
              "then twice E = 8 ReLU experts 128-256-128 with a ReLU between), top-2 softmax gate, learned routers, "
              "Switch load balancing 0.3 on both layers (so the next-ranked expert has been trained: the usage lines "
              "below show every expert's share), " + std::to_string(p.epochs) + " epochs of Adam with a cosine "
              "schedule, one model per seed. Swap: in one layer at a time, the expert of rank 1 or 2 is replaced by the "
              "layer's third-ranked expert with its own gate; the other layer routes as it would. No attack: a "
              "change of the routing alone. Differs from P1: V-MoE on ImageNet (MoE every other layer) is scaled down "
              "to two MoE layers of an MLP trained for " + std::to_string(p.epochs) + " epochs (its accuracy is the first "
              "table row); whether longer training makes the experts more interchangeable is not tested here.";
    o.data = {{"per_seed", per_seed}, {"worst_change", worst}};
    decide(o, worst);
    o.reason = "largest accuracy change of a one-layer swap: " + sig(o.interval) + " over " +
               std::to_string(worst.size()) + " seeds.";
    return o;
}

}  // namespace moelab::cli
