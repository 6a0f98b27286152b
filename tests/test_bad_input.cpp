// Hostile files and careless values met by the library (issue 16): non-finite weights are refused by every
// loader and certificate, checkpoints are judged by their first bytes, sizes in metadata are bounded before
// anything is allocated, a blown-up Adam run stops, and a checkpoint holds no wall-clock time.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "engine/atomic_file.hpp"
#include "engine/clusters.hpp"
#include "engine/npz.hpp"
#include "moe/model_io.hpp"
#include "theory/exact/exact.hpp"
#include "theory/bounds/lipschitz.hpp"
#include "theory/bounds/smoothing.hpp"

using namespace moelab;
namespace fs = std::filesystem;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

fs::path scratch(const std::string& name) {
    const fs::path d = fs::temp_directory_path() / ("moelab_bad_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

ModelConfig small_mlp() {
    ModelConfig c;
    c.kind = ModelKind::mlp;
    c.input_dim = 4;
    c.classes = 3;
    c.width = 6;
    c.hidden = 5;
    c.depth = 1;
    return c;
}

// Sets one value of the parameter `name` (its first element) in place.
void poison(Classifier& model, const std::string& name, double v) {
    Var p = model.params().get(name);
    p.value().data()[0] = v;
}

bool says(const std::exception& e, std::initializer_list<std::string> parts) {
    const std::string m = e.what();
    for (const auto& p : parts)
        if (m.find(p) == std::string::npos) {
            BOOST_TEST_MESSAGE("message: " << m << " lacks '" << p << "'");
            return false;
        }
    return m.find('\n') == std::string::npos;
}

Tensor some_inputs() {
    Tensor x(Shape{2, 4});
    for (std::int64_t i = 0; i < x.numel(); ++i) x.data()[i] = 0.1 * static_cast<double>(i) - 0.3;
    return x;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bad_input)

BOOST_AUTO_TEST_CASE(checkpoint_with_an_infinite_weight_is_refused_naming_file_and_tensor) {
    const fs::path dir = scratch("inf_ckpt");
    Classifier model(small_mlp());
    poison(model, "head.weight", -kInf);
    const std::string path = (dir / "inf.ckpt").string();
    save_model(path, model, nullptr, TrainConfig{}, TrainState{}, "clusters");   // checksum valid
    BOOST_CHECK_EXCEPTION(load_model(path), std::invalid_argument,
                          [&](const std::exception& e) { return says(e, {path, "'head.weight'", "-inf"}); });
    poison(model, "head.weight", std::nan(""));
    save_model(path, model, nullptr, TrainConfig{}, TrainState{}, "clusters");
    BOOST_CHECK_EXCEPTION(read_checkpoint(path), std::invalid_argument,
                          [&](const std::exception& e) { return says(e, {path, "'head.weight'", "nan"}); });
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(npz_with_a_nan_is_refused_naming_file_and_tensor) {
    const fs::path dir = scratch("nan_npz");
    Tensor t(Shape{3}, 1.0);
    t.data()[2] = std::nan("");
    const std::string path = (dir / "w.npz").string();
    write_npz(path, {{"stem.weight", t}});
    BOOST_CHECK_EXCEPTION(read_npz(path), std::invalid_argument,
                          [&](const std::exception& e) { return says(e, {path, "'stem.weight'", "nan", "index 2"}); });
    fs::remove_all(dir);
}

// A model built in memory never passes a loader: the certificates themselves refuse it.
BOOST_AUTO_TEST_CASE(certificates_refuse_a_model_built_in_memory_with_an_infinite_weight) {
    Classifier model(small_mlp());
    const Network finite = network_of(model);
    poison(model, "stem.weight", -kInf);
    BOOST_CHECK_EXCEPTION(network_of(model), std::invalid_argument,
                          [](const std::exception& e) { return says(e, {"'stem.weight'", "-inf"}); });
    ExactOptions eo;
    BOOST_CHECK_THROW(exact_min_distance_linf(model, some_inputs(), 0, eo), std::invalid_argument);
    SmoothingOptions so;
    so.n0 = 10, so.n = 20;
    BOOST_CHECK_THROW(certify_smoothing(model, some_inputs(), {0, 1}, so), std::invalid_argument);
    // A Network edited after extraction is refused by the bound itself.
    Network bad = finite;
    bad.stages.back().map.w.data()[1] = kInf;   // the head
    BOOST_CHECK_THROW(lipschitz_upper(bad, Norm::l2), std::invalid_argument);
    BOOST_CHECK_THROW(certify_lipschitz(bad, some_inputs(), {0, 1}, Norm::linf), std::invalid_argument);
}

// Finite weights whose layer product overflows: the constant is inf, and a certificate divides by it.
BOOST_AUTO_TEST_CASE(a_lipschitz_constant_that_overflows_is_refused_not_certified) {
    Classifier model(small_mlp());
    Network net = network_of(model);
    for (std::int64_t i = 0; i < net.stages.front().map.w.numel(); ++i) net.stages.front().map.w.data()[i] = 1e200;
    for (std::int64_t i = 0; i < net.stages.back().map.w.numel(); ++i) net.stages.back().map.w.data()[i] = 1e200 * static_cast<double>(i % 3);
    BOOST_CHECK_EXCEPTION(lipschitz_upper(net, Norm::linf), std::domain_error,
                          [](const std::exception& e) { return says(e, {"Lipschitz bound", "inf", "refusing to certify"}); });
}

BOOST_AUTO_TEST_CASE(checkpoint_is_judged_by_its_first_bytes_and_directories_are_named) {
    BOOST_CHECK_EXCEPTION(read_checkpoint("/dev/zero"), std::runtime_error,
                          [](const std::exception& e) { return says(e, {"/dev/zero", "not a moelab checkpoint"}); });
    const fs::path dir = scratch("dir_ckpt");
    BOOST_CHECK_EXCEPTION(read_checkpoint(dir.string()), std::runtime_error,
                          [&](const std::exception& e) { return says(e, {dir.string(), "is a directory"}); });
    fs::remove_all(dir);
}

// A checksum-valid checkpoint of a tiny model whose metadata asks for 1e8 experts (or 1e9 classes) is
// refused before the model is built (it once grew past 6 GB).
BOOST_AUTO_TEST_CASE(metadata_asking_for_a_huge_model_is_refused_before_allocating) {
    const fs::path dir = scratch("huge_meta");
    ModelConfig c = small_mlp();
    c.kind = ModelKind::moe;
    c.experts = 2;
    c.top_k = 1;
    Classifier model(c);
    const std::string path = (dir / "m.ckpt").string();
    save_model(path, model, nullptr, TrainConfig{}, TrainState{}, "clusters");
    for (const auto& [key, value] : {std::pair<std::string, std::int64_t>{"experts", 100000000}, {"classes", 1000000000}}) {
        Checkpoint ck = read_checkpoint(path);
        auto meta = nlohmann::json::parse(ck.meta);
        meta["model"][key] = value;
        ck.meta = meta.dump();
        const std::string huge = (dir / ("huge_" + key + ".ckpt")).string();
        write_checkpoint(huge, ck);
        BOOST_CHECK_EXCEPTION(load_model(huge), std::runtime_error,
                              [&](const std::exception& e) { return says(e, {huge, "metadata describes a model of at least"}); });
    }
    fs::remove_all(dir);
}

// Adam's normalised step keeps the weights finite at lr 1e6 while the loss explodes; SGD would reach NaN.
BOOST_AUTO_TEST_CASE(adam_at_an_absurd_learning_rate_stops_as_diverged) {
    ClusterSpec spec;
    spec.clusters = 4, spec.dim = 6, spec.classes = 3, spec.samples = 400;
    const Dataset all = make_clusters(spec);
    const Dataset train_set = subset(all, 0, 320), test_set = subset(all, 320, 80);
    for (const OptimizerKind kind : {OptimizerKind::adam, OptimizerKind::adamw}) {
        ModelConfig c = small_mlp();
        c.input_dim = 6;
        Classifier model(c);
        TrainConfig t;
        t.epochs = 5;
        t.batch_size = 8;   // 40 steps per epoch
        t.optimizer.kind = kind;
        t.optimizer.lr = 1e6;
        Optimizer opt(model.params(), t.optimizer);
        TrainState state;
        BOOST_CHECK_EXCEPTION(train(model, opt, train_set, test_set, t, state), std::runtime_error,
                              [](const std::exception& e) { return says(e, {"training diverged", "the last checkpoint"}); });
        BOOST_TEST(state.epochs_done < t.epochs);
    }
}

// Users hash artefacts: the checkpoint holds no wall-clock seconds, so two saves of one state differ in no byte
// even when their recorded timings differ.
BOOST_AUTO_TEST_CASE(checkpoint_bytes_do_not_depend_on_recorded_timings) {
    const fs::path dir = scratch("timing");
    Classifier model(small_mlp());
    TrainState a;
    EpochMetrics m;
    m.epoch = 1;
    m.seconds = 1.25;
    a.history.push_back(m);
    a.epochs_done = 1;
    TrainState b = a;
    b.history[0].seconds = 7.5;
    save_model((dir / "a.ckpt").string(), model, nullptr, TrainConfig{}, a, "clusters");
    save_model((dir / "b.ckpt").string(), model, nullptr, TrainConfig{}, b, "clusters");
    BOOST_TEST(read_file((dir / "a.ckpt").string()) == read_file((dir / "b.ckpt").string()));
    BOOST_TEST(load_model((dir / "a.ckpt").string()).state.history.at(0).test_accuracy == m.test_accuracy);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
