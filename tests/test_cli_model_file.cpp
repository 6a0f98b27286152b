// The model file on the command line: every command that takes --ckpt reads train's model.npz and gets the
// checkpoint's results; `data --export` gives the inputs eval sees; a hostile model file (a NaN weight, a domain
// the data does not have) and bad dump paths are refused with the flag, file and tensor named, nothing written.
#include <boost/test/unit_test.hpp>

#include "engine/npz.hpp"
#include "engine/ops.hpp"
#include "moe/model_file.hpp"
#include "tests/cli_run.hpp"

using namespace cli_run;
namespace fs = std::filesystem;

namespace {

const std::string kData = "clusters:K=4,d=5,C=3,n=200";

// Trains a small MoE into dir/m (model.ckpt and model.npz).
std::string trained_model(const fs::path& dir) {
    const std::string out = (dir / "m").string();
    const Outcome o = run("train --data " + kData + " --model moe --experts 3 --top-k 1 --width 6 --hidden 5 --epochs 2 --out " + out, dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_model_file)

BOOST_AUTO_TEST_CASE(every_command_reads_the_model_file_with_the_checkpoints_results) {
    if (!binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set (run through tests/run_tests.sh): CLI test skipped");
        return;
    }
    const fs::path dir = fresh_dir("cli_model_file");
    const std::string m = trained_model(dir), d = dir.string();
    for (const std::string ext : {"ckpt", "npz"}) {
        const std::string ckpt = m + "/model." + ext, tag = d + "/" + ext;
        BOOST_REQUIRE(run("eval --ckpt " + ckpt + " --out " + tag + "_eval.json --dump-logits " + tag + "_logits.npy " +
                          "--dump-input-grad " + tag + "_grad.npy", dir).code == 0);
        BOOST_REQUIRE(run("certify --ckpt " + ckpt + " --method ibp --samples 10 --out " + tag + "_ibp.csv", dir).code == 0);
        BOOST_REQUIRE(run("attack --ckpt " + ckpt + " --attack pgd --eps 0.3 --steps 5 --samples 10 --out " + tag + "_pgd.csv", dir).code == 0);
        BOOST_REQUIRE(run("lipschitz --ckpt " + ckpt + " --norm l2 --samples 10 --out " + tag + "_lip.json", dir).code == 0);
    }
    for (const std::string out : {"_logits.npy", "_grad.npy", "_ibp.csv", "_pgd.csv"})
        BOOST_TEST(moelab::read_file(d + "/ckpt" + out) == moelab::read_file(d + "/npz" + out), out);
    for (const std::string out : {"_lip.json", "_eval.json"}) {   // the same but for the file each names
        auto a = nlohmann::json::parse(moelab::read_file(d + "/ckpt" + out)), b = nlohmann::json::parse(moelab::read_file(d + "/npz" + out));
        a.erase("checkpoint"), b.erase("checkpoint");
        BOOST_TEST(a.dump() == b.dump(), out);
    }
    // The exported test inputs are what eval saw: the model's logits on them are the dumped logits, bit for bit,
    // and the labels give eval's accuracy.
    BOOST_REQUIRE(run("data --data " + kData + " --export " + d + "/test.npz", dir).code == 0);
    const moelab::NpzArchive exported = moelab::read_npz_archive(d + "/test.npz");
    const moelab::ModelFile model = moelab::read_model_file(m + "/model.npz");
    moelab::NoGradGuard no_grad;
    const moelab::Tensor logits = model.model->forward(moelab::Var(exported.tensors.at(0).tensor)).logits.value();
    BOOST_TEST(logits.bitwise_equal(moelab::read_npy(d + "/npz_logits.npy")));
    const moelab::NpyArray& y = exported.others.at(0);
    BOOST_REQUIRE((y.name == "y" && y.dtype == moelab::NpyDtype::int64 && y.shape.at(0) == logits.rows()));
    const auto pred = moelab::argmax_rows(logits);
    std::int64_t correct = 0;
    for (std::int64_t i = 0; i < logits.rows(); ++i) {
        std::int64_t label = 0;
        std::memcpy(&label, y.bytes.data() + 8 * i, 8);
        correct += pred[static_cast<std::size_t>(i)] == label;
    }
    const auto eval = nlohmann::json::parse(moelab::read_file(d + "/npz_eval.json"));
    BOOST_TEST(eval.at("clean_accuracy").get<double>() == static_cast<double>(correct) / static_cast<double>(logits.rows()));
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_hostile_model_file_is_refused_naming_the_file_and_the_tensor) {
    if (!binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set (run through tests/run_tests.sh): CLI test skipped");
        return;
    }
    const fs::path dir = fresh_dir("cli_model_file_bad");
    const std::string m = trained_model(dir), d = dir.string();
    moelab::NpzArchive a = moelab::read_npz_archive(m + "/model.npz");
    a.tensors.at(2).tensor[1] = std::nan("");
    const std::string bad = d + "/nan.npz", tensor = "'" + a.tensors.at(2).name + "'";
    moelab::write_npz(bad, a.tensors, a.others);
    const std::vector<std::string> commands{
        "eval --ckpt " + bad + " --out " + d + "/o.json", "certify --ckpt " + bad + " --method ibp --out " + d + "/o.csv",
        "attack --ckpt " + bad + " --attack pgd --eps 0.1 --out " + d + "/o.csv", "lipschitz --ckpt " + bad + " --out " + d + "/o.json",
        "check --ckpt " + bad + " --out " + d + "/chk"};
    for (const auto& c : commands) {
        const Outcome o = run(c, dir);
        BOOST_TEST(o.code != 0, c);
        BOOST_TEST((o.err.find(bad) != std::string::npos && o.err.find(tensor) != std::string::npos && o.err.find("non-finite") != std::string::npos),
                   c << ": " << o.err);
        BOOST_TEST(count_lines(o.err) == 1, o.err);
    }
    BOOST_TEST(!fs::exists(d + "/o.json"));
    BOOST_TEST(!fs::exists(d + "/o.csv"));
    // A file that declares pixel inputs in [0, 1] is not evaluated on unbounded synthetic data.
    moelab::ModelFileInfo images;
    images.input = moelab::InputConvention{255.0, true, 0.0, 1.0};
    images.data_spec = kData;
    moelab::write_model_file(d + "/images.npz", *moelab::read_model_file(m + "/model.npz").model, images);
    Outcome o = run("eval --ckpt " + d + "/images.npz --out " + d + "/o.json", dir);
    BOOST_TEST(o.code != 0);
    BOOST_TEST((o.err.find("--data") != std::string::npos && o.err.find("domain") != std::string::npos), o.err);
    // Dumps into a missing directory, or onto --out: refused before any work, nothing written.
    o = run("eval --ckpt " + m + "/model.npz --out " + d + "/o.json --dump-logits " + d + "/no/such/l.npy", dir);
    BOOST_TEST((o.code != 0 && o.err.find("--dump-logits") != std::string::npos), o.err);
    o = run("eval --ckpt " + m + "/model.npz --out " + d + "/o.json --dump-input-grad " + d + "/o.json", dir);
    BOOST_TEST((o.code != 0 && o.err.find("--dump-input-grad") != std::string::npos), o.err);
    BOOST_TEST(!fs::exists(d + "/o.json"));
    o = run("data --data " + kData + " --split validation --export " + d + "/x.npz", dir);
    BOOST_TEST((o.code != 0 && o.err.find("--split") != std::string::npos), o.err);
    BOOST_TEST(!fs::exists(d + "/x.npz"));
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
