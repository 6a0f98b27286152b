// P2's models (p2_models.hpp), trained per seed, and the PGD outcomes the P2 drivers share. The drivers:
// c05_weak_experts.cpp, c06_rt_er.cpp, c07_dual_model.cpp (C7's JTDMoE per alpha: jtdmoe.cpp).
#include "experiments/claims/p2_models.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "experiments/claims/common.hpp"
#include "experiments/claims/drivers.hpp"
#include "theory/bounds/dual.hpp"
#include "theory/attacks/attack_harness.hpp"

using nlohmann::json;

namespace moelab::cli {

std::string P2Setup::name(const std::string& base) const { return seeded(base, seed); }

P2Setup p2_setup(const ReproProfile& p, std::uint64_t seed) {
    P2Setup s;
    s.seed = seed;
    s.data = load_data("fashion-mnist", p.robust_train_limit, p.robust_test_samples);
    s.model.kind = ModelKind::moe_model;
    s.model.input_dim = 784;
    s.model.classes = 10;
    s.model.hidden = 64;
    s.model.experts = 4;
    s.model.top_k = 1;
    s.model.seed = seed;
    s.train.epochs = static_cast<int>(p.epochs);
    s.train.schedule = LrSchedule::cosine;
    s.train.optimizer.lr = 3e-3;   // at 1e-3 the plain model reaches 0.80 in the quick profile's 3 epochs, at 3e-3 0.84
    s.train.seed = seed;
    s.attack.norm = Norm::linf;
    s.attack.eps = 0.1;
    s.attack.steps = p.train_attack_steps;
    s.attack.domain = kImageBox;
    return s;
}

P2Setup p2_setup(const ReproProfile& p) { return p2_setup(p, p.seeds.front()); }

std::string p2_training_images(const ReproProfile& p) {
    return training_images(p.robust_train_limit);
}

json p2_attack_json(const TrainingAttack& a) {
    return {{"norm", to_string(a.norm)}, {"eps", a.eps}, {"steps", a.steps}, {"step_size", a.step_size}};
}

json p2_rt_er_recipe(const P2Setup& s) { return {{"recipe", "rt-er"}, {"attack", p2_attack_json(s.attack)}, {"beta", s.beta}}; }

// "p2-rt-er" at P2's default beta 6, "p2-rt-er-b<beta>" at the others of its ablation.
std::string p2_rt_er_name(const P2Setup& s) {
    if (s.beta == 6.0) return s.name("p2-rt-er");
    char b[32];
    std::snprintf(b, sizeof b, "p2-rt-er-b%g", s.beta);
    return s.name(b);
}


std::unique_ptr<Classifier> p2_standard(const std::string& root, const P2Setup& s) {
    return trained(root, s.name("p2-standard"), s.model, s.train, "fashion-mnist", s.data);
}

// P2's released code: a linear router on the image whose hard argmax gets no gradient (it keeps its random
// initialisation), gate 1 on the chosen expert: frozen router, top-1, gate softmax over the one chosen score.
std::unique_ptr<Classifier> p2_frozen_standard(const std::string& root, const P2Setup& s) {
    ModelConfig mc = s.model;
    mc.router = RouterTraining::frozen;
    mc.gate = GateMode::topk_then_softmax;
    return trained(root, s.name("p2-frozen-standard"), mc, s.train, "fashion-mnist", s.data);
}

std::unique_ptr<Classifier> p2_pgd_at(const std::string& root, const P2Setup& s) {
    TrainHooks hooks;
    hooks.batch_loss = pgd_adversarial_batch_loss(s.attack);
    return trained(root, s.name("p2-pgd-at"), s.model, s.train, "fashion-mnist", s.data,
                   {{"recipe", "pgd-at"}, {"attack", p2_attack_json(s.attack)}}, hooks);
}

std::unique_ptr<Classifier> p2_rt_er(const std::string& root, const P2Setup& s) {
    RtErOptions o;
    o.attack = s.attack;
    o.beta = s.beta;
    TrainHooks hooks;
    hooks.batch_loss = rt_er_batch_loss(o);
    return trained(root, p2_rt_er_name(s), s.model, s.train, "fashion-mnist", s.data, p2_rt_er_recipe(s), hooks);
}

namespace {

double mean_of(const std::vector<std::uint8_t>& v) {
    double s = 0.0;
    for (auto b : v) s += b;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

}  // namespace

double Outcomes::sa() const { return mean_of(clean); }
double Outcomes::ra() const { return mean_of(robust); }

Outcomes pgd_outcomes(const AttackModel& m, const Dataset& data, double eps, int steps) {
    Outcomes o;
    AttackOptions ao;
    ao.norm = Norm::linf;
    ao.eps = eps;
    ao.steps = steps;
    ao.seed = 5;
    const std::int64_t n = data.size(), d = data.dim(), batch = 250;
    for (std::int64_t b0 = 0; b0 < n; b0 += batch) {
        const std::int64_t m_rows = std::min(batch, n - b0);
        Tensor x(Shape{m_rows, d});
        std::copy_n(data.x.data() + b0 * d, m_rows * d, x.data());
        const std::vector<int> y(data.y.begin() + b0, data.y.begin() + b0 + m_rows);
        const AttackResult r = pgd(m, x, y, ao);
        for (std::int64_t i = 0; i < m_rows; ++i) {
            const auto u = static_cast<std::size_t>(i);
            o.clean.push_back(r.clean_pred[u] == y[u]);
            o.robust.push_back(r.clean_pred[u] == y[u] && r.adv_pred[u] == y[u]);
        }
    }
    return o;
}

Dataset first_test_images(const P2Setup& s, std::int64_t n) { return subset(s.data.test, 0, std::min(n, s.data.test.size())); }

}  // namespace moelab::cli
