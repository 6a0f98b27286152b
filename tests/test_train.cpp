// Training end to end: bitwise-identical checkpoints across runs and thread counts, resume equals an
// uninterrupted run, and the models learn what they should.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <unistd.h>

#include "engine/clusters.hpp"
#include "engine/parallel.hpp"
#include "moe/model_io.hpp"
#include "tests/gradcheck.hpp"

using namespace moelab;
using moelab::testing::bitwise_identical;

namespace {

struct Fixture {
    Dataset train_set, test_set;
    ModelConfig model;
    TrainConfig config;
    explicit Fixture(std::int64_t n_train = 480) {
        ClusterSpec spec;
        spec.clusters = 4;
        spec.dim = 8;
        spec.classes = 3;
        spec.samples = n_train + n_train / 4;
        const Dataset all = make_clusters(spec);
        train_set = subset(all, 0, n_train);
        test_set = subset(all, n_train, n_train / 4);
        model.kind = ModelKind::moe;
        model.input_dim = 8;
        model.classes = 3;
        model.width = 96;   // wide enough that gemm blocks and elementwise loops go parallel
        model.hidden = 128;
        model.experts = 4;
        model.top_k = 2;
        model.dropout = 0.1;
        model.noisy = true;
        config.epochs = 2;
        config.batch_size = 160;
        config.optimizer.lr = 3e-3;
        config.schedule = LrSchedule::cosine;
        config.z_weight = 1e-3;
    }
};

std::vector<Tensor> train_weights(const Fixture& f, int threads, int epochs = -1, const TrainHooks& hooks = {}) {
    set_threads(threads);
    Classifier model(f.model);
    Optimizer opt(model.params(), f.config.optimizer);
    TrainState state;
    TrainConfig c = f.config;
    if (epochs > 0) c.epochs = epochs;
    train(model, opt, f.train_set, f.test_set, c, state, hooks);
    std::vector<Tensor> w;
    for (const auto& p : model.params().all()) w.push_back(p.var.value());
    for (const auto& [name, t] : opt.state()) w.push_back(t);
    return w;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(train_moe)

BOOST_AUTO_TEST_CASE(moe_training_is_bitwise_identical_across_runs_and_1_2_4_threads) {
    const Fixture f;
    const int before = max_threads();
    const auto one = train_weights(f, 1), again = train_weights(f, 1), two = train_weights(f, 2),
               four = train_weights(f, 4);
    set_threads(before);
    BOOST_TEST(bitwise_identical(one, again));
    BOOST_TEST(bitwise_identical(one, two));
    BOOST_TEST(bitwise_identical(one, four));
}

BOOST_AUTO_TEST_CASE(resume_after_epoch_1_ends_bitwise_identical_to_an_uninterrupted_run) {
    const Fixture f;
    const auto straight = train_weights(f, 2);
    const std::string dir = "/tmp/moelab_resume_" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/model.ckpt";
    {
        // Train epoch 1 of 2 and checkpoint, as `moelab train` does, then drop everything.
        Classifier model(f.model);
        Optimizer opt(model.params(), f.config.optimizer);
        TrainState state;
        TrainHooks hooks;
        hooks.on_epoch = [&](const TrainState& st, const Optimizer& o) {
            save_model(path, model, &o, f.config, st, "clusters");
            if (st.epochs_done == 1) throw std::runtime_error("interrupted");
        };
        BOOST_CHECK_THROW(train(model, opt, f.train_set, f.test_set, f.config, state, hooks), std::runtime_error);
    }
    SavedModel saved = load_model(path);
    BOOST_TEST(saved.state.epochs_done == 1);
    Optimizer opt(saved.model->params(), saved.train.optimizer);
    load_optimizer_state(saved, opt, path);
    train(*saved.model, opt, f.train_set, f.test_set, saved.train, saved.state);
    std::vector<Tensor> resumed;
    for (const auto& p : saved.model->params().all()) resumed.push_back(p.var.value());
    for (const auto& [name, t] : opt.state()) resumed.push_back(t);
    BOOST_TEST(bitwise_identical(straight, resumed));
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_batch_loss_hook_replaces_the_step_loss) {
    const Fixture f;
    // The hook that returns the standard loss changes nothing, bit for bit.
    TrainHooks same;
    same.batch_loss = standard_batch_loss;
    BOOST_CHECK(bitwise_identical(train_weights(f, 1, 1), train_weights(f, 1, 1, same)));
    // A hook that trains on shifted inputs is really used: the weights differ.
    TrainHooks shifted;
    shifted.batch_loss = [](Classifier& m, const Tensor& x, const std::vector<int>& y, const ForwardOptions& fo,
                            const TrainConfig& c) {
        Tensor moved = x;
        for (std::int64_t i = 0; i < moved.numel(); ++i) moved.data()[i] += 0.25;
        return standard_batch_loss(m, moved, y, fo, c);
    };
    BOOST_CHECK(!bitwise_identical(train_weights(f, 1, 1), train_weights(f, 1, 1, shifted)));
}

BOOST_AUTO_TEST_CASE(an_moe_learns_clustered_data) {
    Fixture f(2400);
    f.config.epochs = 10;
    f.config.batch_size = 64;
    f.config.optimizer.lr = 5e-3;
    f.model.noisy = false;
    f.model.dropout = 0.0;
    Classifier model(f.model);
    Optimizer opt(model.params(), f.config.optimizer);
    TrainState state;
    train(model, opt, f.train_set, f.test_set, f.config, state);
    // Chance is 1/3; the label rule is piecewise linear, one piece per cluster, so a working MoE
    // learns it well.
    BOOST_TEST(state.history.back().test_accuracy > 0.85);   // measured 0.885
    BOOST_TEST(state.history.back().train_loss < state.history.front().train_loss);
    std::int64_t load = 0;
    for (auto l : state.history.back().expert_load) load += l;
    BOOST_TEST(load == 2400 * 2);   // every row picked k = 2 experts
}

// A run that diverges keeps its last good checkpoint: nothing is saved once the loss is not finite.
// Divergence is provoked by a parameter turned to NaN right after epoch 1 was checkpointed.
BOOST_AUTO_TEST_CASE(a_diverging_run_keeps_the_last_good_checkpoint) {
    const Fixture f;
    Classifier model(f.model);
    Optimizer opt(model.params(), f.config.optimizer);
    TrainState state;
    TrainConfig c = f.config;
    c.epochs = 3;
    const std::string path =
        (std::filesystem::temp_directory_path() / ("moelab_diverge_" + std::to_string(getpid()) + ".ckpt")).string();
    int saved = 0;
    TrainHooks hooks;
    hooks.on_epoch = [&](const TrainState& st, const Optimizer& o) {
        save_model(path, model, &o, c, st, "clusters");
        ++saved;
        Var w = model.params().get("head.weight");
        w.value()[0] = std::nan("");
    };
    try {
        train(model, opt, f.train_set, f.test_set, c, state, hooks);
        BOOST_FAIL("a NaN loss did not stop training");
    } catch (const std::runtime_error& e) {
        BOOST_TEST(std::string(e.what()).find("training diverged") != std::string::npos);
        BOOST_TEST(std::string(e.what()).find("epoch 2") != std::string::npos);
    }
    BOOST_TEST(saved == 1);
    const SavedModel back = load_model(path);
    BOOST_TEST(back.state.epochs_done == 1);
    for (const auto& p : back.model->params().all())
        for (std::int64_t i = 0; i < p.var.value().numel(); ++i) BOOST_REQUIRE(std::isfinite(p.var.value()[i]));
    std::filesystem::remove(path);
}

BOOST_AUTO_TEST_SUITE_END()
