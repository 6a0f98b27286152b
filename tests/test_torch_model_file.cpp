// python/moelab_torch.py against moelab, skipped when torch is absent (tests/torch_model_file.py drives it):
// - every model kind, written as a model file, loads into PyTorch with the same logits (1e-12), the same
//   predictions and the same input gradients, and PyTorch's save of it reads back into the same model (and
//   gives the same bytes twice); moelab_torch.load refuses a NaN weight and another version;
// - a model trained in PyTorch goes through `moelab check` with 0 violations, and eval's logit and input-gradient
//   dumps of it equal PyTorch's.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/npz.hpp"
#include "engine/ops.hpp"
#include "moe/model_file.hpp"
#include "tests/cli_run.hpp"
#include "tests/gradcheck.hpp"
#include "tests/model_kinds.hpp"
#include "experiments/io/program_run.hpp"

using moelab::cli::run_program;

using namespace moelab;
namespace fs = std::filesystem;

namespace {

// Runs tests/torch_model_file.py with these arguments: its exit status, 3 when torch or numpy is not installed
// (checked by the script itself: importing torch is what takes the time), 127 when there is no python3.
int run_script(const std::vector<std::string>& args) {
    if (::access("/usr/bin/python3", X_OK) != 0) return 127;
    std::vector<std::string> argv{"/usr/bin/python3", "tests/torch_model_file.py"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv);
}
bool no_torch(int rc) { return rc == 3 || rc == 127; }

double max_abs_difference(const Tensor& a, const Tensor& b) {
    BOOST_REQUIRE(a.shape() == b.shape());
    double worst = 0;
    for (std::int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
    return worst;
}

// The logits and, row by row, the gradient of each sample's cross-entropy loss at its label.
std::pair<Tensor, Tensor> logits_and_input_gradient(const Classifier& m, const Tensor& x, const std::vector<int>& y) {
    Var xv(x, true);
    const Var z = m.forward(xv).logits;
    backward(mul_scalar(cross_entropy(z, y), static_cast<double>(y.size())));
    return {z.value(), xv.grad()};
}

// Model i of every_model_kind(), plus one whose router scores are all equal (every top-k is a tie).
std::vector<ModelConfig> kinds_with_a_tie() {
    auto kinds = moelab::testing::every_model_kind();
    kinds.push_back(kinds[1]);
    return kinds;
}

void zero_router(Classifier& model, const std::string& path) {
    Checkpoint ck;
    for (auto t : collect(model.params())) {
        if (t.name.find("router.proj") != std::string::npos) t.tensor = Tensor(t.tensor.shape(), 0.0);
        ck.tensors.push_back(t);
    }
    load_params(ck, model.params(), path);
}

std::map<std::string, Tensor> by_name(const std::string& path) {
    std::map<std::string, Tensor> m;
    for (auto& t : read_npz(path)) m[t.name] = t.tensor;
    return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(torch_model_file)

// Equal to 1e-12 (both sides compute in float64; only summation orders differ), same argmax. A wrong gate
// mode, tie rule, capacity order or layer order moves logits by 1e-2 or more.
BOOST_AUTO_TEST_CASE(every_model_kind_gives_the_same_logits_and_input_gradients_in_pytorch) {
    const fs::path dir = cli_run::fresh_dir("torch_model_file");
    const auto kinds = kinds_with_a_tie();
    const Tensor x = moelab::testing::random_tensor({40, 5}, 11);
    std::vector<int> y;
    std::vector<std::int64_t> y64;
    for (int i = 0; i < 40; ++i) y.push_back(i % 3), y64.push_back(i % 3);
    write_npz((dir / "x.npz").string(), {{"x", x}}, {npy_int64("y", y64)});
    std::vector<std::unique_ptr<Classifier>> models;
    for (std::size_t i = 0; i < kinds.size(); ++i) {
        models.push_back(std::make_unique<Classifier>(kinds[i]));
        if (i + 1 == kinds.size()) zero_router(*models.back(), "tie");
        write_model_file((dir / ("model_" + std::to_string(i) + ".npz")).string(), *models.back(), {});
    }
    // Files moelab_torch.load must refuse, naming them (the script checks): a NaN weight, another version.
    auto tensors = collect(models[1]->params());
    const nlohmann::json meta = model_file_meta(models[1]->config(), {});
    nlohmann::json v2 = meta;
    v2["version"] = 2;
    write_npz((dir / "bad_version.npz").string(), tensors, {npy_uint8(kModelFileMetaEntry, v2.dump())});
    tensors[3].tensor[0] = std::nan("");
    write_npz((dir / "bad_nan.npz").string(), tensors, {npy_uint8(kModelFileMetaEntry, meta.dump())});
    const int rc = run_script({"roundtrip", dir.string(), std::to_string(kinds.size())});
    if (no_torch(rc)) {
        BOOST_TEST_MESSAGE("python3-torch is not installed: cross-check skipped");
        fs::remove_all(dir);
        return;
    }
    BOOST_REQUIRE_MESSAGE(rc == 0, "tests/torch_model_file.py roundtrip failed");
    for (std::size_t i = 0; i < kinds.size(); ++i) {
        const std::string what = (i + 1 == kinds.size() ? "all router scores tied, " : "") + to_json(kinds[i]).dump();
        auto theirs = by_name((dir / ("out_" + std::to_string(i) + ".npz")).string());
        const auto [logits, grad] = logits_and_input_gradient(*models[i], x, y);
        const double dz = max_abs_difference(logits, theirs.at("logits")), dg = max_abs_difference(grad, theirs.at("grad"));
        BOOST_TEST_MESSAGE("max |logit difference| " << dz << ", max |input-gradient difference| " << dg << ": " << what);
        BOOST_TEST(dz <= 1e-12, what);
        BOOST_TEST(dg <= 1e-12, what);
        BOOST_TEST((argmax_rows(logits) == argmax_rows(theirs.at("logits"))), what);
        // PyTorch's save reads back into the same weights: the same logits bit for bit.
        const ModelFile back = read_model_file((dir / ("saved_" + std::to_string(i) + ".npz")).string());
        NoGradGuard no_grad;
        BOOST_TEST(back.model->forward(Var(x)).logits.value().bitwise_equal(logits), what);
    }
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_model_trained_in_pytorch_passes_moelab_check_and_its_dumps_match) {
    if (!cli_run::binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set (run through tests/run_tests.sh): skipped");
        return;
    }
    const fs::path dir = cli_run::fresh_dir("torch_trained");
    const std::string data = "clusters:K=4,d=4,C=2,n=200,sep=4", d = dir.string();
    BOOST_REQUIRE(cli_run::run("data --data " + data + " --split train --export " + d + "/train.npz", dir).code == 0);
    BOOST_REQUIRE(cli_run::run("data --data " + data + " --samples 12 --export " + d + "/test.npz", dir).code == 0);
    const int rc = run_script({"train", d});
    if (no_torch(rc)) {
        BOOST_TEST_MESSAGE("python3-torch is not installed: skipped");
        fs::remove_all(dir);
        return;
    }
    BOOST_REQUIRE_MESSAGE(rc == 0, "tests/torch_model_file.py train failed");
    const std::string model = d + "/torch_model.npz";
    // The file does not say which data it saw: --data is required, and named.
    cli_run::Outcome o = cli_run::run("check --ckpt " + model + " --samples 12 --out " + d + "/chk", dir);
    BOOST_TEST(o.code != 0);
    BOOST_TEST(o.err.find("--data") != std::string::npos, o.err);
    o = cli_run::run("check --ckpt " + model + " --data " + data + " --samples 12 --time-limit 5 --out " + d + "/chk", dir);
    BOOST_TEST(o.code == 0, o.err);
    const auto summary = nlohmann::json::parse(read_file(d + "/chk/summary.json"));
    BOOST_TEST(summary.at("violations").get<int>() == 0);
    BOOST_TEST(summary.at("samples").get<int>() == 12);
    // Top-1 routing with gate 1 is piecewise linear: CROWN and the exact MILP apply, so certificates were
    // checked against exact distances, not only against attacks.
    BOOST_TEST(summary.at("exact_optimal").get<int>() > 0);
    BOOST_TEST(summary.at("methods").at("crown").at("certified_positive").get<int>() > 0);
    o = cli_run::run("eval --ckpt " + model + " --data " + data + " --samples 12 --out " + d + "/eval.json --dump-logits " + d +
                         "/logits.npy --dump-input-grad " + d + "/grad.npy",
                     dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const auto theirs = by_name(d + "/torch_out.npz");
    for (const std::string name : {"logits", "grad"}) {
        const Tensor ours = read_npy(d + "/" + name + ".npy");
        const double diff = max_abs_difference(ours, theirs.at(name));
        BOOST_TEST_MESSAGE(name << ": max |moelab eval dump - pytorch| " << diff);
        BOOST_TEST(diff <= 1e-12, name);
    }
    BOOST_TEST((argmax_rows(read_npy(d + "/logits.npy")) == argmax_rows(theirs.at("logits"))));
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
