// Cross-check with an independent PyTorch float64 forward (tests/torch_forward.py): the .npz export
// of trained MoE and dense models gives the same logits to 1e-10. Skips when torch is absent.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "engine/atomic_file.hpp"
#include "engine/clusters.hpp"
#include "engine/npz.hpp"
#include "moe/model_io.hpp"

using namespace moelab;

namespace {

bool torch_available() { return std::system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0; }

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
    const std::string cmd = "/usr/bin/python3 tests/torch_forward.py " + dir + "/model.npz " + dir + "/config.json " +
                            dir + "/x.npz " + dir + "/out.npz";
    BOOST_REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "torch_forward.py failed: " << cmd);
    const Tensor theirs = read_npz(dir + "/out.npz").at(0).tensor;
    NoGradGuard no_grad;
    const Tensor ours = model.forward(Var(data.x)).logits.value();
    BOOST_REQUIRE(theirs.shape() == ours.shape());
    double worst = 0;
    for (std::int64_t i = 0; i < ours.numel(); ++i) worst = std::max(worst, std::fabs(ours[i] - theirs[i]));
    return worst;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(torch_crosscheck)

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

BOOST_AUTO_TEST_SUITE_END()
