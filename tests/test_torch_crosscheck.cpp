// Cross-checks with PyTorch float64, skipped when torch is absent:
// - an independent forward (tests/torch_forward.py): the .npz export of trained MoE and dense models
//   gives the same logits to 1e-10;
// - an independent full CROWN for an MLP (tests/torch_crown.py): the same margin lower bounds to 1e-9;
// - torch.optim's Adam and AdamW (tests/torch_adam.py) fed the same gradients give the same parameters.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "engine/atomic_file.hpp"
#include "experiments/io/program_run.hpp"
#include "engine/clusters.hpp"
#include "engine/npz.hpp"
#include "engine/optim.hpp"
#include "engine/rng.hpp"
#include "moe/model_io.hpp"
#include "tests/gradcheck.hpp"
#include "theory/bounds/linear_bounds.hpp"

using moelab::cli::run_program;

using namespace moelab;

namespace {

bool torch_available() {
    return run_program({"/usr/bin/python3", "-c", "import torch, numpy"}, {.stdout_path = "/dev/null", .stderr_path = "/dev/null"}) == 0;
}

// Trains briefly (so weights are not just their initial values), exports, and compares logits.
double max_logit_difference(ModelConfig cfg, const std::string& dir) {
    ClusterSpec spec;
    spec.clusters = 4;
    spec.dim = static_cast<int>(cfg.input_dim);
    spec.classes = static_cast<int>(cfg.classes);
    spec.samples = 200;
    const Dataset data = make_clusters(spec);
    Classifier model(cfg);
    Optimizer opt(model.params(), OptimizerConfig{});
    TrainConfig tc;
    tc.epochs = 2;
    tc.batch_size = 50;
    TrainState state;
    train(model, opt, data, data, tc, state);
    write_npz(dir + "/model.npz", collect(model.params()));
    write_file_atomic(dir + "/config.json", to_json(model.config()).dump());
    write_npz(dir + "/x.npz", {{"x", data.x}});
    BOOST_REQUIRE_MESSAGE(run_program({"/usr/bin/python3", "tests/torch_forward.py", dir + "/model.npz",
                                           dir + "/config.json", dir + "/x.npz", dir + "/out.npz"}) == 0,
                          "torch_forward.py failed in " << dir);
    const Tensor theirs = read_npz(dir + "/out.npz").at(0).tensor;
    NoGradGuard no_grad;
    const Tensor ours = model.forward(Var(data.x)).logits.value();
    BOOST_REQUIRE(theirs.shape() == ours.shape());
    double worst = 0;
    for (std::int64_t i = 0; i < ours.numel(); ++i) worst = std::max(worst, std::fabs(ours[i] - theirs[i]));
    return worst;
}

// Runs `steps` steps of our optimizer on n parameters, feeding the gradients in `grads` [steps, n]
// (as the gradient of sum(p * g), which is g exactly), and returns the parameters after each step.
Tensor our_trace(const OptimizerConfig& cfg, const Tensor& p0, const Tensor& grads) {
    const std::int64_t steps = grads.rows(), n = grads.cols();
    ParamRegistry params;
    Var p = params.add("p", p0);
    Optimizer opt(params, cfg);
    Tensor trace(Shape{steps, n}, 0.0);
    for (std::int64_t s = 0; s < steps; ++s) {
        Tensor g(Shape{n}, 0.0);
        for (std::int64_t i = 0; i < n; ++i) g[i] = grads[s * n + i];
        opt.zero_grad();
        backward(sum_all(mul(p, Var(g))));
        opt.step();
        for (std::int64_t i = 0; i < n; ++i) trace[s * n + i] = p.value()[i];
    }
    return trace;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(torch_crosscheck)

// Both sides compute torch.optim's formula; they differ only by rounding (torch's moments use FMA,
// ours divide once less: engine/optim.cpp), so after 20 steps the parameters agree to ~1e-16 of their
// size. A wrong bias correction, eps inside the square root or coupled/decoupled weight decay mixed
// up moves them by 1e-6 or more.
BOOST_AUTO_TEST_CASE(adam_and_adamw_match_torch_optim_on_the_same_gradients) {
    if (!torch_available()) {
        BOOST_TEST_MESSAGE("python3-torch is not installed: cross-check skipped");
        return;
    }
    const std::string dir = "/tmp/moelab_torch_adam_" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
    const std::int64_t n = 500, steps = 20;
    const Rng rng(7);
    Tensor p0(Shape{n}, 0.0), grads(Shape{steps, n}, 0.0);
    for (std::int64_t i = 0; i < n; ++i) p0[i] = rng.split("p").normal(static_cast<std::uint64_t>(i));
    for (std::int64_t i = 0; i < steps * n; ++i)   // gradients over six orders of magnitude, some zero
        grads[i] = i % 37 == 0 ? 0.0 : std::pow(10.0, -(i % 7)) * rng.split("g").normal(static_cast<std::uint64_t>(i));
    struct Case { OptimizerKind kind; double lr, wd; };
    const std::vector<Case> cases{{OptimizerKind::adam, 1e-3, 0.0}, {OptimizerKind::adam, 0.05, 0.01}, {OptimizerKind::adamw, 0.01, 0.1}};
    const auto K = static_cast<std::int64_t>(cases.size());
    Tensor config(Shape{K, 6}, 0.0);
    for (std::int64_t k = 0; k < K; ++k) {
        const Case& c = cases[static_cast<std::size_t>(k)];
        const double row[6] = {c.kind == OptimizerKind::adamw ? 1.0 : 0.0, c.lr, 0.9, 0.999, 1e-8, c.wd};
        for (int i = 0; i < 6; ++i) config.at(k, i) = row[i];
    }
    write_npz(dir + "/in.npz", {{"p0", p0}, {"grads", grads}, {"config", config}});
    BOOST_REQUIRE_MESSAGE(run_program({"/usr/bin/python3", "tests/torch_adam.py", dir + "/in.npz", dir + "/out.npz"}) == 0,
                          "torch_adam.py failed in " << dir);
    const Tensor theirs = read_npz(dir + "/out.npz").at(0).tensor;
    BOOST_REQUIRE(theirs.shape() == Shape({K, steps, n}));
    for (std::int64_t k = 0; k < K; ++k) {
        const Case& c = cases[static_cast<std::size_t>(k)];
        const Tensor ours = our_trace(OptimizerConfig{c.kind, c.lr, 0.0, 0.9, 0.999, 1e-8, c.wd}, p0, grads);
        double worst = 0, moved = 0;
        for (std::int64_t i = 0; i < ours.numel(); ++i) {
            const double t = theirs[k * steps * n + i];
            worst = std::max(worst, std::fabs(ours[i] - t) / (1.0 + std::fabs(t)));
            moved = std::max(moved, std::fabs(ours[i] - p0[i % n]));
        }
        BOOST_TEST_MESSAGE(to_string(c.kind) << " lr " << c.lr << " wd " << c.wd << ": worst relative gap " << worst);
        BOOST_TEST(moved > 1e-3, to_string(c.kind) << " lr " << c.lr << ": the parameters moved");
        BOOST_TEST(worst < 1e-14, to_string(c.kind) << " lr " << c.lr << " wd " << c.wd << ": worst relative gap " << worst);
    }
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(exported_models_give_the_same_logits_in_pytorch) {
    if (!torch_available()) {
        BOOST_TEST_MESSAGE("python3-torch is not installed: cross-check skipped");
        return;
    }
    const std::string dir = "/tmp/moelab_torch_" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
    ModelConfig cfg;
    cfg.input_dim = 10;
    cfg.classes = 3;
    cfg.width = 16;
    cfg.hidden = 12;
    cfg.experts = 4;
    for (GateMode gate : {GateMode::softmax_then_topk, GateMode::topk_then_softmax, GateMode::soft}) {
        cfg.gate = gate;
        cfg.top_k = gate == GateMode::soft ? 4 : 2;
        BOOST_TEST(max_logit_difference(cfg, dir) < 1e-10, "gate " << to_string(gate));
    }
    cfg.gate = GateMode::softmax_then_topk;
    cfg.kind = ModelKind::moe_model;
    cfg.hidden = 0;
    cfg.top_k = 1;
    BOOST_TEST(max_logit_difference(cfg, dir) < 1e-10, "model-level MoE with linear experts");
    cfg.kind = ModelKind::mlp;
    cfg.hidden = 12;
    cfg.depth = 2;
    BOOST_TEST(max_logit_difference(cfg, dir) < 1e-10, "dense MLP");
    std::filesystem::remove_all(dir);
}

// Full CROWN of moelab's engine (theory/bounds/linear_bounds.hpp) and of tests/torch_crown.py on random MLPs
// (stem, ReLU, an FFN block: 4 maps, ReLUs after the first two), at radii from nearly stable to mostly unstable.
BOOST_AUTO_TEST_CASE(full_crown_matches_an_independent_pytorch_crown_on_mlps) {
    if (!torch_available()) {
        BOOST_TEST_MESSAGE("python3-torch is not installed: cross-check skipped");
        return;
    }
    const std::string dir = "/tmp/moelab_torch_crown_" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
    std::int64_t compared = 0;
    for (std::uint64_t seed : {1, 2, 3}) {
        ModelConfig cfg;
        cfg.kind = ModelKind::mlp;
        cfg.input_dim = 20, cfg.classes = 4, cfg.width = 16, cfg.hidden = 12, cfg.depth = 1, cfg.seed = seed;
        const Network net = network_of(Classifier(cfg));
        std::vector<NamedTensor> maps;
        int i = 0;
        const auto add = [&](const AffineMap& m) {
            maps.push_back({"w" + std::to_string(i), m.w});
            maps.push_back({"b" + std::to_string(i), m.b});
            ++i;
        };
        add(net.stages[0].map);
        for (const AffineMap& m : net.stages[2].chain) add(m);
        add(net.stages[3].map);
        maps.push_back({"relu", Tensor(Shape{4}, std::vector<double>{1, 1, 0, 0})});
        const Tensor x = testing::random_tensor(Shape{20}, seed + 40, -1.0, 1.0);
        const LinearBounder bounder(net);
        for (double eps : {0.01, 0.05, 0.2}) {
            const int y = static_cast<int>(seed % 4);
            std::vector<NamedTensor> in = maps;
            in.push_back({"x", x});
            in.push_back({"y", Tensor(Shape{1}, std::vector<double>{static_cast<double>(y)})});
            in.push_back({"eps", Tensor(Shape{1}, std::vector<double>{eps})});
            write_npz(dir + "/in.npz", in);
            BOOST_REQUIRE(run_program({"/usr/bin/python3", "tests/torch_crown.py", dir + "/in.npz", dir + "/out.npz"}) == 0);
            const Tensor theirs = read_npz(dir + "/out.npz").at(0).tensor;
            LinearBoundOptions o;
            o.method = LinearMethod::crown;
            const MarginBounds ours = bounder.margin_bounds(norm_ball_region(x.data(), 20, eps, Norm::linf, Box{}), y, o);
            for (std::int64_t j = 0; j < 4; ++j) {
                const double a = ours.lower[static_cast<std::size_t>(j)], b = theirs[j];
                BOOST_TEST(std::abs(a - b) <= 1e-9 * (1.0 + std::abs(b)), "seed " << seed << " eps " << eps << " class " << j << ": " << a << " vs " << b);
                BOOST_TEST(a <= b + 1e-12 * (1.0 + std::abs(b)));   // ours carries its rounding charge downward
                ++compared;
            }
        }
    }
    BOOST_TEST(compared == 36);
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
