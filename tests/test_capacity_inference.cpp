// Capacity limits training only (moe/capacity.hpp): a model trained with --capacity-factor 1 predicts each
// sample the same way in eval, in attack at batch sizes 1, 7 and 250, and in certify (whose exact radius is
// positive exactly where the clean prediction is right), so no prediction depends on its batch. Needs the
// binary (tests/run_tests.sh sets MOELAB_BIN).
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/atomic_file.hpp"
#include "engine/clusters.hpp"
#include "moe/train.hpp"
#include "tests/cli_run.hpp"

namespace fs = std::filesystem;

namespace {

// Column `col` (0-based) of every data row of a CSV.
std::vector<std::string> column(const std::string& csv, int col) {
    std::istringstream in(csv);
    std::string line;
    std::getline(in, line);   // header
    std::vector<std::string> out;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string f;
        for (int c = 0; c <= col && std::getline(fields, f, ','); ++c) {
        }
        out.push_back(f);
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(capacity_inference)

BOOST_AUTO_TEST_CASE(eval_attack_and_certify_agree_on_clean_predictions_at_every_batch_size) {
    if (!cli_run::binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set (run through tests/run_tests.sh): CLI test skipped");
        return;
    }
    const fs::path dir = cli_run::fresh_dir("capacity_inference");
    const std::string model = (dir / "m").string(), ckpt = model + "/model.ckpt";
    auto o = cli_run::run("train --data clusters:K=4,d=4,n=600 --model moe --experts 4 --top-k 1 --gate topk-softmax "
                          "--width 6 --hidden 6 --capacity-factor 1 --epochs 2 --seed 5 --out " + model, dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const int n = 60;
    const std::string samples = " --samples " + std::to_string(n);
    std::vector<std::string> clean_pred, labels;
    double attack_accuracy = -1.0;
    for (int batch : {1, 7, 250}) {
        const std::string csv = (dir / ("a" + std::to_string(batch) + ".csv")).string();
        o = cli_run::run("attack --ckpt " + ckpt + " --attack fgsm --eps 0.05" + samples + " --batch-size " +
                             std::to_string(batch) + " --out " + csv, dir);
        BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
        const std::string text = moelab::read_file(csv);
        if (clean_pred.empty()) {
            clean_pred = column(text, 2);
            labels = column(text, 1);
        }
        BOOST_TEST(column(text, 2) == clean_pred, "batch size " << batch);
        const auto j = nlohmann::json::parse(moelab::read_file((dir / ("a" + std::to_string(batch) + ".json")).string()));
        if (attack_accuracy < 0.0) attack_accuracy = j.at("clean_accuracy").get<double>();
        BOOST_TEST(j.at("clean_accuracy").get<double>() == attack_accuracy);
    }
    BOOST_REQUIRE(static_cast<int>(clean_pred.size()) == n);
    int correct = 0;
    for (int i = 0; i < n; ++i) correct += clean_pred[static_cast<std::size_t>(i)] == labels[static_cast<std::size_t>(i)];
    BOOST_TEST(correct > 0);
    BOOST_TEST(correct < n);   // some errors, so the agreement below is not trivial
    o = cli_run::run("eval --ckpt " + ckpt + samples + " --out " + (dir / "eval.json").string(), dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const auto eval = nlohmann::json::parse(moelab::read_file((dir / "eval.json").string()));
    BOOST_TEST(eval.at("clean_accuracy").get<double>() == static_cast<double>(correct) / n);
    // certify --method exact: d* > 0 exactly where the model classifies the sample right.
    const std::string cert = (dir / "exact.csv").string();
    o = cli_run::run("certify --ckpt " + ckpt + " --method exact --radius-cap 0.5" + samples + " --out " + cert, dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const std::vector<std::string> radius = column(moelab::read_file(cert), 2);
    BOOST_REQUIRE(static_cast<int>(radius.size()) == n);
    for (int i = 0; i < n; ++i) {
        const auto ui = static_cast<std::size_t>(i);
        BOOST_TEST((std::stod(radius[ui]) > 0.0) == (clean_pred[ui] == labels[ui]), "sample " << i << ": radius " << radius[ui]);
    }
    fs::remove_all(dir);
}

// The same through the library at batch sizes the command line does not reach (eval's batch is fixed): the
// model's own forward in training mode drops slots at this capacity, evaluate() at batch sizes 1, 7 and 500
// gives the same predictions, and those of single rows.
BOOST_AUTO_TEST_CASE(evaluate_gives_the_same_predictions_at_every_batch_size) {
    moelab::ClusterSpec cs;
    cs.clusters = 4, cs.dim = 4, cs.classes = 2, cs.samples = 700;
    const moelab::Dataset all = moelab::make_clusters(cs);
    const moelab::Dataset train_set = moelab::subset(all, 0, 600), test_set = moelab::subset(all, 600, 100);
    moelab::ModelConfig mc;
    mc.kind = moelab::ModelKind::moe, mc.input_dim = 4, mc.classes = 2, mc.experts = 4, mc.top_k = 1, mc.width = 6, mc.hidden = 6;
    mc.gate = moelab::GateMode::topk_then_softmax, mc.capacity_factor = 1.0, mc.seed = 5;
    moelab::Classifier model(mc);
    moelab::TrainConfig tc;
    tc.epochs = 2;
    moelab::Optimizer opt(model.params(), tc.optimizer);
    moelab::TrainState state;
    moelab::train(model, opt, train_set, test_set, tc, state);
    {
        moelab::NoGradGuard no_grad;
        moelab::ForwardOptions training;
        training.training = true;
        BOOST_TEST(model.forward(moelab::Var(test_set.x), training).dropped > 0);   // capacity binds in training
    }
    const auto reference = moelab::evaluate(model, test_set, 1).predictions;
    for (std::int64_t batch : {7, 500}) BOOST_TEST(moelab::evaluate(model, test_set, batch).predictions == reference, "batch " << batch);
}

BOOST_AUTO_TEST_SUITE_END()
