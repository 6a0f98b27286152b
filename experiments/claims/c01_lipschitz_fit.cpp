// Claim C1 of P1 (Puigcerver et al., NeurIPS 2022): on clustered data, an MoE fits with a smaller Lipschitz constant
// than a dense model of equal active compute, more so as E grows. Compared at equal training fit: every model is
// stopped at the first epoch whose training accuracy reaches the dense model's (E = 1) final one.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "experiments/claims/common.hpp"
#include "experiments/claims/drivers.hpp"
#include "theory/bounds/lipschitz.hpp"
#include "theory/bounds/lipschitz_lower.hpp"
#include "theory/network/network.hpp"

using nlohmann::json;

namespace moelab::cli {

namespace {

const std::string kClusterSpec = "clusters:K=8,d=16,C=2,n=4000,sep=4,noise=1,seed=3";
const std::vector<std::int64_t> kExperts{1, 2, 4, 8};

struct FittedModel {
    std::unique_ptr<Classifier> model;
    int epochs = 0;
    double train_accuracy = 0.0;
};

// Trains epoch by epoch (constant learning rate, so stopping early is the same run cut short) until the training
// accuracy reaches `target`, at most tc.epochs epochs. target <= 0: all epochs. Cached under `name` with the target
// in its recipe, and the epochs it took in its train config.
FittedModel trained_to_fit(const std::string& root, const std::string& name, const ModelConfig& mc, TrainConfig tc,
                           const DataSplits& data, double target) {
    const json recipe = {{"recipe", "until-train-accuracy"}, {"target", target}};
    const int max_epochs = tc.epochs;
    for (int e = 1; e <= max_epochs; ++e) {
        tc.epochs = e;
        if (auto m = cached(root, name, mc, tc, kClusterSpec, recipe)) {
            const double acc = evaluate(*m, data.train).accuracy;
            return {std::move(m), e, acc};
        }
    }
    if (target > 0.0)
        std::fprintf(stderr, "repro: training %s (moe-model, until train accuracy %.4f, at most %d epochs)\n", name.c_str(),
                     target, max_epochs);
    else
        std::fprintf(stderr, "repro: training %s (moe-model, %d epochs)\n", name.c_str(), max_epochs);
    FittedModel f{std::make_unique<Classifier>(mc), 0, 0.0};
    Optimizer opt(f.model->params(), tc.optimizer);
    TrainState state;
    for (int e = 1; e <= max_epochs; ++e) {
        tc.epochs = e;
        train(*f.model, opt, data.train, data.test, tc, state);
        f.epochs = e;
        f.train_accuracy = evaluate(*f.model, data.train).accuracy;
        if (target > 0.0 && f.train_accuracy >= target) break;
    }
    store(root, name, *f.model, opt, tc, state, kClusterSpec, recipe);
    return f;
}

struct C1Row {   // one E of one seed
    std::int64_t experts = 0;
    int epochs = 0;
    double train_accuracy = 0.0, test_accuracy = 0.0, lower = 0.0, upper = 0.0, params = 0.0;
};

C1Row measure(const FittedModel& f, std::int64_t experts, const DataSplits& data) {
    C1Row r;
    r.experts = experts;
    r.epochs = f.epochs;
    r.train_accuracy = f.train_accuracy;
    r.test_accuracy = evaluate(*f.model, data.test).accuracy;
    r.lower = lipschitz_lower(*f.model, data.test.x, Norm::l2).gradient;
    const LipschitzUpper up = lipschitz_upper(network_of(*f.model), Norm::l2);
    for (std::int64_t i = 0; i < up.pair.numel(); ++i) r.upper = std::max(r.upper, up.pair[i]);
    r.params = static_cast<double>(f.model->params().numel());
    return r;
}

// The models of one seed: E = 1 trained for all epochs, its final training accuracy the target of the others.
std::vector<C1Row> run_seed(const std::string& root, const ReproProfile& p, std::uint64_t seed, const DataSplits& data,
                            std::vector<std::string>& usage) {
    std::vector<C1Row> rows;
    double target = 0.0;
    for (std::int64_t E : kExperts) {
        ModelConfig mc;
        mc.kind = ModelKind::moe_model;
        mc.input_dim = 16;
        mc.classes = 2;
        mc.hidden = 8;
        mc.experts = E;
        mc.top_k = 1;
        mc.seed = seed;
        TrainConfig tc;
        tc.epochs = static_cast<int>(10 * p.epochs);
        tc.optimizer.lr = 3e-3;
        tc.seed = seed;
        const std::string name = seeded("clusters-E" + std::to_string(E), seed);
        const FittedModel f = trained_to_fit(root, name, mc, tc, data, E == 1 ? 0.0 : target);
        if (E == 1) target = f.train_accuracy;
        rows.push_back(measure(f, E, data));
        if (E > 1) usage.push_back(usage_of(name, *f.model, data.test.x));
    }
    return rows;
}

}  // namespace

ClaimOutcome run_c1(const std::string& dir, const ReproProfile& p) {
    const DataSplits data = load_data(kClusterSpec, -1, -1);
    ClaimOutcome o;
    std::vector<std::vector<C1Row>> by_seed;
    std::vector<double> ratio;
    json per_seed = json::array();
    for (std::uint64_t seed : p.seeds) {
        by_seed.push_back(run_seed(root_of(dir), p, seed, data, o.usage));
        const std::vector<C1Row>& r = by_seed.back();
        ratio.push_back(r.back().lower / r.front().lower);
        json rows = json::array();
        for (const C1Row& x : r)
            rows.push_back({{"experts", x.experts}, {"epochs", x.epochs}, {"train_accuracy", x.train_accuracy},
                            {"test_accuracy", x.test_accuracy}, {"lipschitz_lower", x.lower},
                            {"lipschitz_upper_fixed_routing", x.upper}, {"parameters", x.params}});
        per_seed.push_back({{"seed", seed}, {"rows", rows}, {"lower_ratio_E8_over_E1", ratio.back()}});
    }
    std::ostringstream csv;
    csv << "experts,test_accuracy,lipschitz_lower,lipschitz_upper_fixed_routing,bubeck_sellke_reference,parameters,"
           "train_accuracy,epochs\n";
    ResultsTable t{"Per E, mean over seeds (the interval of the measured constant in brackets). Each E > 1 stopped at "
                   "the first epoch whose training accuracy reaches E = 1's final one.",
                   {"E", "epochs", "train acc", "test acc", "Lipschitz lower (L2)", "upper, routing fixed",
                    "P1 law sqrt(nd/p), scaled at E = 1"},
                   {}};
    for (std::size_t i = 0; i < kExperts.size(); ++i) {
        std::vector<double> ep, tr, te, lo, up, law;
        for (const auto& r : by_seed) {
            ep.push_back(r[i].epochs);
            tr.push_back(r[i].train_accuracy);
            te.push_back(r[i].test_accuracy);
            lo.push_back(r[i].lower);
            up.push_back(r[i].upper);
            law.push_back(r.front().lower * std::sqrt(r.front().params / r[i].params));
        }
        const Interval L = mean_interval(lo);
        const double m_ep = mean_interval(ep).mean, m_tr = mean_interval(tr).mean, m_te = mean_interval(te).mean,
                     m_up = mean_interval(up).mean, m_law = mean_interval(law).mean;
        t.rows.push_back({std::to_string(kExperts[i]), sig(m_ep, 3), sig(m_tr, 3), sig(m_te, 3), sig(L), sig(m_up, 3),
                          sig(m_law, 3)});
        csv << kExperts[i] << "," << m_te << "," << L.mean << "," << m_up << "," << m_law << ","
            << by_seed.front()[i].params << "," << m_tr << "," << m_ep << "\n";
    }
    write_file_atomic(dir + "/lipschitz.csv", csv.str());
    plot("claim_c1.gp", dir);
    o.tables.push_back(t);
    o.figure = "lipschitz.png";
    o.paper = "P1: an MoE of E experts routed one cluster per expert can fit clustered data with a Lipschitz constant below "
              "any dense model of equal compute, by a factor growing with E (order sqrt(E) under L ~ sqrt(n d / p)).";
    o.effect = "L(E = 8) / L(E = 1), measured Lipschitz lower bound at equal training accuracy, per seed";
    o.interval = mean_interval(ratio);
    o.rule = {Direction::below, 0.9};   // a 10% smaller constant counts; P1's law predicts about 1/sqrt(8) = 0.35
    o.seeds = p.seeds;
    o.budget = "E = 1: " + std::to_string(10 * p.epochs) + " epochs; E > 1 until its train accuracy; 800 test points";
    o.setup = "Data: " + kClusterSpec + " (8 Gaussian clusters in 16 dimensions, 2 classes, 3200 train / 800 test, the "
              "same for every seed). Models: model-level MoEs (router on the input) of E = 1, 2, 4, 8 ReLU experts "
              "16-8-2, top-1 softmax gate, learned router, Switch load balancing 0.3; E = 1 is the dense model of equal "
              "active compute. Training: Adam lr 3e-3 constant, batch 128; E = 1 for " + std::to_string(10 * p.epochs) +
              " epochs, each E > 1 stopped at the first epoch whose training accuracy reaches E = 1's final one (equal "
              "fit; the epochs and accuracies are in the table). Measure: the largest L2 gradient norm of a class-score "
              "difference at the test points and around them (a lower bound on the fitted function's constant), "
              "beside the fixed-routing upper bound. Seeds: model initialisation and data order. Differs from P1: P1 "
              "states an existence result (a construction); we measure trained models, so the effect shows what "
              "training finds, not what is possible.";
    o.data = {{"per_seed", per_seed}, {"ratio_E8_over_E1", ratio}};
    decide(o, ratio);
    o.reason = "L(E = 8) / L(E = 1) = " + sig(o.interval) + " over " + std::to_string(ratio.size()) + " seeds.";
    return o;
}

}  // namespace moelab::cli
