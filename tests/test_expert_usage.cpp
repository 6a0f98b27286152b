// Expert usage (moe/expert_usage.hpp) and the routers that train into using their experts: the measurement
// against closed forms, the default training giving balanced use (model-level top-1 and layer-level top-2 on
// Fashion-MNIST) at no loss of accuracy, a collapsed model flagged and warned about, and the frozen router.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>

#include "engine/clusters.hpp"
#include "engine/idx.hpp"
#include "moe/model_io.hpp"
#include "tests/cli_run.hpp"

using namespace moelab;
namespace fs = std::filesystem;

namespace {

bool have_fashion() { return fs::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz"); }

struct Trained {
    std::vector<ExpertUsage> test_usage;
    double test_accuracy = 0.0;
    std::string warning;
};

Trained train_fashion(const ModelConfig& mc, const TrainConfig& tc, std::int64_t train_n, std::int64_t test_n) {
    const Dataset train_set = load_fashion_mnist(kFashionMnistDir, true, train_n);
    const Dataset test_set = load_fashion_mnist(kFashionMnistDir, false, test_n);
    Classifier model(mc);
    Optimizer opt(model.params(), tc.optimizer);
    TrainState state;
    train(model, opt, train_set, test_set, tc, state);
    const EpochMetrics& last = state.history.back();
    return {last.test_usage, last.test_accuracy, collapse_warning(last)};
}

// P2's model-level MoE at the repro's size: a linear router on the image, 4 experts 784-64-10, top-1.
ModelConfig model_level() {
    ModelConfig mc;
    mc.kind = ModelKind::moe_model;
    mc.hidden = 64;
    mc.experts = 4;
    mc.top_k = 1;
    return mc;
}

TrainConfig quick_training(int epochs) {
    TrainConfig tc;
    tc.epochs = epochs;
    tc.schedule = LrSchedule::cosine;
    tc.optimizer.lr = 3e-3;
    return tc;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(expert_usage_suite)

BOOST_AUTO_TEST_CASE(usage_matches_closed_forms_and_the_collapse_rule) {
    const ExpertUsage uniform = expert_usage({25, 25, 25, 25});
    BOOST_TEST(uniform.above_1pct == 4);
    BOOST_TEST(std::fabs(uniform.entropy - 1.0) < 1e-15);
    BOOST_TEST(uniform.max_share == 0.25);
    BOOST_TEST(!uniform.collapsed);
    const ExpertUsage one = expert_usage({0, 0, 0, 40});
    BOOST_TEST(one.entropy == 0.0);
    BOOST_TEST(one.max_share == 1.0);
    BOOST_TEST(one.collapsed);
    // Two experts at 1/2: entropy log 2 / log 4 = 1/2; max share 0.5 is not above max(0.5, 2/4).
    const ExpertUsage pair = expert_usage({50, 0, 50, 0});
    BOOST_TEST(std::fabs(pair.entropy - 0.5) < 1e-15);
    BOOST_TEST(!pair.collapsed);
    BOOST_TEST(expert_usage({51, 0, 49, 0}).collapsed);               // one expert above 1/2
    BOOST_TEST(expert_usage({1, 1, 1, 997}).above_1pct == 1);           // 0.1% each is below 1%
    // E = 8: four experts at >= 1% is half (not collapsed), three is fewer than half.
    BOOST_TEST(!expert_usage({25, 25, 25, 25, 0, 0, 0, 0}).collapsed);
    BOOST_TEST(expert_usage({34, 33, 33, 0, 0, 0, 0, 0}).collapsed);
    // E = 3: the share limit is 2/3, above one half.
    BOOST_TEST(!expert_usage({60, 20, 20}).collapsed);
    BOOST_TEST(expert_usage({67, 17, 16}).collapsed);
    // Reading back recomputes every field from the counts.
    const ExpertUsage back = expert_usage_from_json(to_json(pair));
    BOOST_TEST(back.share == pair.share);
    BOOST_TEST(back.entropy == pair.entropy);
    BOOST_CHECK_THROW(expert_usage_from_json(nlohmann::json{{"selections", {1, -2}}}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(model_level_top1_defaults_give_every_expert_10pct_at_no_loss_of_accuracy) {
    if (!have_fashion()) {
        BOOST_TEST_MESSAGE("dataset-fashion-mnist is not installed: skipped");
        return;
    }
    // The collapsed model of the same size: no load balancing, one expert takes every image (the former default,
    // weight 0.01, ends with two experts at this size: docs/routing-and-balance.md gives its numbers too).
    TrainConfig unbalanced = quick_training(2);
    unbalanced.lb_weight = 0.0;
    const Trained balanced = train_fashion(model_level(), quick_training(2), 20000, 1000);
    const Trained collapsed = train_fashion(model_level(), unbalanced, 20000, 1000);
    BOOST_TEST_MESSAGE("defaults: accuracy " << balanced.test_accuracy << ", " << usage_line(balanced.test_usage));
    BOOST_TEST_MESSAGE("no balancing: accuracy " << collapsed.test_accuracy << ", " << usage_line(collapsed.test_usage));
    BOOST_REQUIRE(balanced.test_usage.size() == 1u);
    for (double s : balanced.test_usage[0].share) BOOST_TEST(s >= 0.10);
    BOOST_TEST(balanced.warning.empty());
    BOOST_TEST(collapsed.test_usage[0].collapsed);   // what the comparison is against
    BOOST_TEST(balanced.test_accuracy >= collapsed.test_accuracy);
}

BOOST_AUTO_TEST_CASE(layer_level_e8_k2_defaults_give_every_expert_4pct_of_selections) {
    if (!have_fashion()) {
        BOOST_TEST_MESSAGE("dataset-fashion-mnist is not installed: skipped");
        return;
    }
    ModelConfig mc;
    mc.kind = ModelKind::moe;
    mc.width = 64;
    mc.hidden = 64;
    mc.experts = 8;
    mc.top_k = 2;
    TrainConfig tc;
    tc.epochs = 2;
    const Trained t = train_fashion(mc, tc, 5000, 1000);
    BOOST_TEST_MESSAGE("layer-level defaults: accuracy " << t.test_accuracy << ", " << usage_line(t.test_usage));
    BOOST_REQUIRE(t.test_usage.size() == 1u);
    BOOST_TEST(t.test_usage[0].selections.size() == 8u);
    std::int64_t total = 0;
    for (std::int64_t n : t.test_usage[0].selections) total += n;
    BOOST_TEST(total == 2000);   // 1000 images, two picks each
    for (double s : t.test_usage[0].share) BOOST_TEST(s >= 0.04);
}

BOOST_AUTO_TEST_CASE(a_model_collapsed_on_purpose_is_flagged_and_train_warns) {
    // No load balancing on non-negative images: Adam's first steps move the selected expert's score for every
    // image alike, and one expert takes all (docs/routing-and-balance.md).
    if (!have_fashion()) {
        BOOST_TEST_MESSAGE("dataset-fashion-mnist is not installed: skipped");
        return;
    }
    const fs::path dir = cli_run::fresh_dir("collapse");
    const cli_run::Outcome o = cli_run::run(
        "train --model moe-model --experts 4 --top-k 1 --hidden 16 --lb-weight 0 --lr 3e-3 --epochs 1 "
        "--train-limit 2000 --test-limit 500 --threads 1 --out " + (dir / "run").string(), dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const SavedModel s = load_model((dir / "run" / "model.ckpt").string());
    const EpochMetrics& last = s.state.history.back();
    BOOST_TEST_MESSAGE(usage_line(last.test_usage));
    BOOST_REQUIRE(last.test_usage.size() == 1u);
    BOOST_TEST(last.test_usage[0].collapsed);
    BOOST_TEST(o.err.find("warning: routing collapsed") != std::string::npos, o.err);
    const nlohmann::json metrics = nlohmann::json::parse(read_file((dir / "run" / "metrics.json").string()));
    BOOST_TEST(metrics.at("epochs").back().at("test_usage").at(0).at("collapsed").get<bool>());
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_frozen_router_keeps_its_initialisation_and_is_recorded) {
    ModelConfig mc = model_level();
    mc.input_dim = 8;
    mc.classes = 3;
    mc.hidden = 16;
    mc.router = RouterTraining::frozen;
    ClusterSpec spec;
    spec.dim = 8;
    spec.classes = 3;
    spec.samples = 300;
    const Dataset data = make_clusters(spec);
    Classifier model(mc);
    const Tensor before = model.params().get("moe.router.proj.weight").value();
    const Tensor expert_before = model.params().get("moe.experts.0.fc1.weight").value();
    Optimizer opt(model.params(), TrainConfig{}.optimizer);
    TrainState state;
    TrainConfig tc;
    tc.epochs = 2;
    tc.batch_size = 50;
    train(model, opt, data, data, tc, state);
    const Tensor& after = model.params().get("moe.router.proj.weight").value();
    for (std::int64_t i = 0; i < before.numel(); ++i) BOOST_REQUIRE(after[i] == before[i]);
    bool expert_moved = false;   // the experts do learn
    const Tensor& e = model.params().get("moe.experts.0.fc1.weight").value();
    for (std::int64_t i = 0; i < e.numel(); ++i) expert_moved = expert_moved || e[i] != expert_before[i];
    BOOST_TEST(expert_moved);
    BOOST_TEST(to_json(mc).at("router") == "frozen");
    // A config written before the key existed is a learned router.
    nlohmann::json old = to_json(model_level());
    old.erase("router");
    BOOST_TEST((model_config_from_json(old).router == RouterTraining::learned));
    BOOST_CHECK_THROW(parse_router_training("fixed"), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
