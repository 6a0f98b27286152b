// Adversarial-training recipes (theory/attacks/robust_training.hpp): RT-ER's loss is its formula, the new loss terms have
// the gradients finite differences give, adversarial training is bitwise deterministic and resumable, JTDMoE's
// robust half is RT-ER, and PGD training does make a model more robust.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <functional>

#include "engine/clusters.hpp"
#include "engine/ops.hpp"
#include "theory/attacks/robust_training.hpp"

using namespace moelab;

namespace {

// A model-level MoE small enough to recompute by hand: 3 linear experts on R^3, 3 classes, top-1 routing.
ModelConfig tiny_moe_model(std::uint64_t seed = 4) {
    ModelConfig c;
    c.kind = ModelKind::moe_model;
    c.input_dim = 3;
    c.classes = 3;
    c.hidden = 0;
    c.experts = 3;
    c.top_k = 1;
    c.seed = seed;
    return c;
}

Tensor uniform_rows(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
    Tensor t(Shape{rows, cols});
    const Rng rng(seed);
    for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(static_cast<std::uint64_t>(i));
    return t;
}

// W x + b for row r of x, with W [out, in] and b [out] read from the registry.
std::vector<double> affine(const Classifier& m, const std::string& name, const Tensor& x, std::int64_t r) {
    const Tensor& w = m.params().get(name + ".weight").value();
    const Tensor& b = m.params().get(name + ".bias").value();
    std::vector<double> y(static_cast<std::size_t>(w.rows()));
    for (std::int64_t o = 0; o < w.rows(); ++o) {
        double s = b[o];
        for (std::int64_t i = 0; i < w.cols(); ++i) s += w.at(o, i) * x.at(r, i);
        y[static_cast<std::size_t>(o)] = s;
    }
    return y;
}

std::vector<double> softmax_of(const std::vector<double>& z) {
    double m = z[0], s = 0.0;
    for (double v : z) m = std::max(m, v);
    std::vector<double> p(z.size());
    for (std::size_t i = 0; i < z.size(); ++i) s += (p[i] = std::exp(z[i] - m));
    for (double& v : p) v /= s;
    return p;
}

// Indices of the largest and second-largest entries (ties to the lower index).
std::pair<std::size_t, std::size_t> top_two(const std::vector<double>& s) {
    std::size_t a = 0;
    for (std::size_t i = 1; i < s.size(); ++i) if (s[i] > s[a]) a = i;
    std::size_t b = a == 0 ? 1 : 0;
    for (std::size_t i = 0; i < s.size(); ++i) if (i != a && s[i] > s[b]) b = i;
    return {a, b};
}

struct Clusters {
    Dataset train_set, test_set;
    Clusters(int dim, std::int64_t n_train, double separation, double noise, std::uint64_t seed) {
        ClusterSpec spec;
        spec.clusters = 4;
        spec.dim = dim;
        spec.classes = 2;
        spec.samples = n_train + n_train / 2;
        spec.separation = separation;
        spec.noise = noise;
        spec.seed = seed;
        const Dataset all = make_clusters(spec);
        train_set = subset(all, 0, n_train);
        test_set = subset(all, n_train, n_train / 2);
    }
};

std::vector<Tensor> weights_and_state(const Classifier& m, const Optimizer& opt) {
    std::vector<Tensor> w;
    for (const auto& p : m.params().all()) w.push_back(p.var.value());
    for (const auto& [name, t] : opt.state()) w.push_back(t);
    return w;
}

bool bitwise_equal(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].shape() != b[i].shape()) return false;
        for (std::int64_t j = 0; j < a[i].numel(); ++j)
            if (std::memcmp(a[i].data() + j, b[i].data() + j, sizeof(double)) != 0) return false;
    }
    return true;
}

TrainingAttack cluster_attack(double eps) {
    TrainingAttack a;
    a.eps = eps;
    a.steps = 5;
    a.domain = Box{};   // clusters are not images
    return a;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(robust_training)

BOOST_AUTO_TEST_CASE(rt_er_loss_equals_its_formula_by_hand) {
    Classifier model(tiny_moe_model());
    const std::int64_t B = 6;
    const Tensor x = uniform_rows(B, 3, 11);
    const std::vector<int> y{0, 1, 2, 2, 1, 0};
    TrainingAttack attack;
    attack.eps = 0.2;
    attack.steps = 4;
    const RtErPoints points = rt_er_points(model, x, y, attack, Rng(7));
    const double beta = 2.5;
    TrainConfig config;
    config.lb_weight = 0.0;
    const BatchLoss b = rt_er_loss(model, x, points, y, ForwardOptions{}, config, beta);

    // By hand: F(x) = p_i(x) (W_i x + c_i) with i the top router score and p = softmax of the scores
    // (softmax-then-top-k, k = 1); L = mean CE(F(x_adv), y) + beta / B sum_b KL(softmax f_j(x) || softmax f_j(x'')).
    double ce = 0.0, kl = 0.0;
    for (std::int64_t r = 0; r < B; ++r) {
        for (std::int64_t i = 0; i < 3; ++i) {
            BOOST_TEST(std::abs(points.x_adv.at(r, i) - x.at(r, i)) <= attack.eps + 1e-15);
            BOOST_TEST(std::abs(points.x_expert_adv.at(r, i) - x.at(r, i)) <= attack.eps + 1e-15);
            BOOST_TEST((points.x_adv.at(r, i) >= 0.0 && points.x_adv.at(r, i) <= 1.0));
        }
        const auto s_adv = affine(model, "moe.router.proj", points.x_adv, r);
        const std::size_t top = top_two(s_adv).first;
        const double gate = softmax_of(s_adv)[top];
        std::vector<double> f = affine(model, "moe.experts." + std::to_string(top) + ".fc1", points.x_adv, r);
        for (double& v : f) v *= gate;
        ce -= std::log(softmax_of(f)[static_cast<std::size_t>(y[static_cast<std::size_t>(r)])]);

        const std::size_t second = top_two(affine(model, "moe.router.proj", x, r)).second;
        BOOST_TEST(points.second[static_cast<std::size_t>(r)] == static_cast<std::int64_t>(second));
        const std::string expert = "moe.experts." + std::to_string(second) + ".fc1";
        const auto p = softmax_of(affine(model, expert, x, r));
        const auto q = softmax_of(affine(model, expert, points.x_expert_adv, r));
        for (std::size_t c = 0; c < p.size(); ++c) kl += p[c] * (std::log(p[c]) - std::log(q[c]));
    }
    const double expected = ce / static_cast<double>(B) + beta * kl / static_cast<double>(B);
    BOOST_TEST(kl > 0.0);
    BOOST_TEST(b.loss.value().item() == expected, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(b.ce.value().item() == ce / static_cast<double>(B), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(new_loss_terms_have_finite_difference_gradients) {
    // RT-ER's regulariser w.r.t. the experts' weights, and JTDMoE's dual-model loss w.r.t. the standard model's
    // weights (the robust model held fixed), against central differences of the same functions.
    Classifier model(tiny_moe_model(5)), robust(tiny_moe_model(6));
    const Tensor x = uniform_rows(5, 3, 21), x_adv = uniform_rows(5, 3, 22);
    const std::vector<std::int64_t> second{0, 2, 1, 2, 0};
    const std::vector<int> y{2, 0, 1, 1, 0};
    const std::vector<std::function<Var()>> terms{
        [&] { return rt_er_expert_term(model, x, x_adv, second); },
        [&] { return dual_model_nll(model, robust, 0.3, x, y, ForwardOptions{}); }};
    for (const auto& term : terms) {
        for (const auto& p : model.params().all()) Var(p.var).zero_grad();
        backward(term());
        double worst = 0.0;
        std::int64_t checked = 0;
        for (const auto& named : model.params().all()) {
            Var p = named.var;
            if (p.grad().numel() == 0) continue;   // the router gets none from the regulariser
            for (std::int64_t i = 0; i < p.value().numel(); ++i) {
                const double v = p.value().data()[i], h = 1e-6;
                double plus, minus;
                {
                    NoGradGuard no_grad;
                    p.value().data()[i] = v + h;
                    plus = term().value().item();
                    p.value().data()[i] = v - h;
                    minus = term().value().item();
                    p.value().data()[i] = v;
                }
                const double numeric = (plus - minus) / (2 * h), analytic = p.grad().data()[i];
                worst = std::max(worst, std::abs(numeric - analytic) / std::max({1.0, std::abs(numeric), std::abs(analytic)}));
                ++checked;
            }
        }
        BOOST_TEST(checked >= 24);   // the router and the experts the batch reaches
        BOOST_TEST(worst < 1e-7);
    }
    for (const auto& p : robust.params().all()) BOOST_TEST(p.var.grad().numel() == 0);
}

BOOST_AUTO_TEST_CASE(adversarial_training_is_bitwise_deterministic_and_resumable) {
    const Clusters data(6, 240, 3.0, 1.0, 3);
    ModelConfig mc = tiny_moe_model(8);
    mc.input_dim = 6;
    mc.classes = 2;
    mc.hidden = 8;
    mc.experts = 4;
    mc.top_k = 2;
    TrainConfig tc;
    tc.epochs = 2;
    tc.batch_size = 60;
    tc.optimizer.lr = 3e-3;
    tc.schedule = LrSchedule::cosine;
    RtErOptions rt;
    rt.attack = cluster_attack(0.3);
    for (const BatchLossFn& fn : {pgd_adversarial_batch_loss(cluster_attack(0.3)), rt_er_batch_loss(rt)}) {
        TrainHooks hooks;
        hooks.batch_loss = fn;
        // resumed: stopped after the first epoch (the throw from on_epoch stands for a crash after the checkpoint),
        // then continued from the state the checkpoint holds.
        auto run = [&](bool resumed) {
            Classifier m(mc);
            Optimizer opt(m.params(), tc.optimizer);
            TrainState state;
            if (resumed) {
                TrainHooks stop = hooks;
                stop.on_epoch = [](const TrainState&, const Optimizer&) { throw std::runtime_error("stop"); };
                BOOST_CHECK_THROW(train(m, opt, data.train_set, data.test_set, tc, state, stop), std::runtime_error);
                BOOST_TEST(state.epochs_done == 1);
            }
            train(m, opt, data.train_set, data.test_set, tc, state, hooks);
            return weights_and_state(m, opt);
        };
        const auto a = run(false), b = run(false), c = run(true);
        BOOST_TEST(bitwise_equal(a, b));
        BOOST_TEST(bitwise_equal(a, c));
    }
}

BOOST_AUTO_TEST_CASE(jtdmoe_trains_the_standard_half_and_its_robust_half_is_rt_er) {
    const Clusters data(6, 160, 3.0, 1.0, 5);
    ModelConfig mc = tiny_moe_model(9);
    mc.input_dim = 6;
    mc.classes = 2;
    mc.hidden = 8;
    TrainConfig tc;
    tc.epochs = 1;
    tc.batch_size = 40;
    tc.optimizer.lr = 3e-3;
    JtdmoeOptions o;
    o.alpha = 0.4;
    o.robust.attack = cluster_attack(0.3);

    Classifier alone(mc);
    Optimizer alone_opt(alone.params(), tc.optimizer);
    TrainState alone_state;
    TrainHooks hooks;
    hooks.batch_loss = rt_er_batch_loss(o.robust);
    train(alone, alone_opt, data.train_set, data.test_set, tc, alone_state, hooks);

    ModelConfig sc = mc;
    sc.seed = 10;
    Classifier standard(sc), robust(mc);
    const Classifier standard_init(sc);
    Optimizer sopt(standard.params(), tc.optimizer), ropt(robust.params(), tc.optimizer);
    TrainState state;
    train_jtdmoe(standard, sopt, robust, ropt, data.train_set, data.test_set, tc, state, o);
    BOOST_TEST(bitwise_equal(weights_and_state(robust, ropt), weights_and_state(alone, alone_opt)));
    BOOST_TEST(sopt.steps() == ropt.steps());
    double moved = 0.0;
    for (std::size_t i = 0; i < standard.params().all().size(); ++i) {
        const Tensor& a = standard.params().all()[i].var.value();
        const Tensor& b = standard_init.params().all()[i].var.value();
        for (std::int64_t j = 0; j < a.numel(); ++j) moved = std::max(moved, std::abs(a[j] - b[j]));
    }
    BOOST_TEST(moved > 1e-3);
}

BOOST_AUTO_TEST_CASE(pgd_training_makes_a_model_more_robust_on_clusters) {
    // Two Gaussian clusters, one per class y = +-1 (Tsipras et al. 2019's construction): feature 0 is y (flipped for
    // 10% of the samples) plus small noise, robust at L-inf radius 0.35; features 1..16 are y * 0.3 + N(0, 1), weakly
    // predictive each, strong together and flipped together by a perturbation of 0.35. Plain training leans on the
    // weak features; adversarial training must rely on feature 0.
    auto make = [](std::int64_t n, std::uint64_t seed) {
        const std::int64_t d = 17;
        Dataset ds;
        ds.x = Tensor(Shape{n, d});
        ds.num_classes = 2;
        const Rng rng(seed);
        for (std::int64_t i = 0; i < n; ++i) {
            const int c = static_cast<int>(rng.split("label").below(static_cast<std::uint64_t>(i), 2));
            const double y = 2.0 * c - 1.0;
            const double robust = rng.split("flip").uniform(static_cast<std::uint64_t>(i)) < 0.1 ? -y : y;
            ds.x.at(i, 0) = robust + 0.05 * rng.split("noise0").normal(static_cast<std::uint64_t>(i));
            for (std::int64_t j = 1; j < d; ++j)
                ds.x.at(i, j) = 0.3 * y + rng.split("noise").normal(static_cast<std::uint64_t>(i * d + j));
            ds.y.push_back(c);
        }
        return ds;
    };
    const Dataset train_set = make(600, 1), test_set = make(300, 2);
    ModelConfig mc;
    mc.kind = ModelKind::moe_model;
    mc.input_dim = 17;
    mc.classes = 2;
    mc.hidden = 16;
    mc.experts = 2;
    mc.top_k = 1;
    mc.seed = 3;
    TrainConfig tc;
    tc.epochs = 6;
    tc.batch_size = 60;
    tc.optimizer.lr = 1e-2;
    const double eps = 0.35;
    auto accuracies = [&](const BatchLossFn& fn) {
        Classifier m(mc);
        Optimizer opt(m.params(), tc.optimizer);
        TrainState state;
        TrainHooks hooks;
        hooks.batch_loss = fn;
        train(m, opt, train_set, test_set, tc, state, hooks);
        AttackOptions o;
        o.eps = eps;
        o.steps = 20;
        o.restarts = 2;
        const AttackResult r = pgd(classifier_attack_model(m, Box{}), test_set.x, test_set.y, o);
        return std::pair{evaluate(m, test_set).accuracy, 1.0 - r.success_rate()};
    };
    TrainingAttack attack = cluster_attack(eps);
    attack.steps = 7;
    const auto [plain_clean, plain] = accuracies({});
    const auto [adv_clean, adversarial] = accuracies(pgd_adversarial_batch_loss(attack));
    BOOST_TEST_MESSAGE("clean / robust accuracy at L-inf " << eps << ": plain " << plain_clean << " / " << plain
                                                         << ", PGD-trained " << adv_clean << " / " << adversarial);
    BOOST_TEST(adversarial > plain + 0.2);
}

BOOST_AUTO_TEST_CASE(rt_er_refuses_a_layer_level_moe) {
    ModelConfig mc;
    mc.kind = ModelKind::moe;
    mc.input_dim = 4;
    mc.classes = 2;
    mc.width = 8;
    mc.hidden = 8;
    mc.experts = 2;
    mc.top_k = 1;
    const Classifier m(mc);
    BOOST_CHECK_EXCEPTION(rt_er_points(m, uniform_rows(2, 4, 1), {0, 1}, TrainingAttack{}, Rng(1)), std::invalid_argument,
                          [](const std::invalid_argument& e) { return std::string(e.what()).find("moe-model") != std::string::npos; });
}

BOOST_AUTO_TEST_SUITE_END()
