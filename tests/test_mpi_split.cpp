// `moelab certify`, `check` and `attack` under mpirun: 1 and 2 MPI processes write the bytes a plain run
// writes (CSV, JSON apart from its wall-clock "seconds", the --save-adv archive) and print the same report;
// an error found while computing (a model the exact solver does not support, seen by a rank whose block is
// empty too) is one line from rank 0 and no file. Skipped, saying so, without mpirun or without MPI in the
// build (tests/run_tests.sh sets MOELAB_MPIRUN). Programs run from argument vectors (experiments/io/program_run.hpp).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/atomic_file.hpp"
#include "experiments/io/program_run.hpp"
#include "tests/temp_dir.hpp"

using moelab::cli::run_program;

namespace fs = std::filesystem;

namespace {

struct Outcome {
    int code = 0;
    std::string out, err;
};

const char* binary() { return std::getenv("MOELAB_BIN"); }
const char* mpirun() { return std::getenv("MOELAB_MPIRUN"); }

// `moelab ARGS` in `cwd`: plain (ranks 0) or under $MOELAB_MPIRUN -np ranks (its words split at spaces: it
// is a launcher and its own flags, set by tests/run_tests.sh).
Outcome run(const std::vector<std::string>& args, const std::string& cwd, int ranks = 0) {
    std::vector<std::string> argv;
    if (ranks > 0) {
        std::istringstream words(mpirun());
        for (std::string w; words >> w;) argv.push_back(w);
        argv.insert(argv.end(), {"-np", std::to_string(ranks)});
    }
    argv.push_back(fs::absolute(binary()).string());
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string out = cwd + "/stdout.txt", err = cwd + "/stderr.txt";
    Outcome o;
    o.code = run_program(argv, {.cwd = cwd, .stdout_path = out, .stderr_path = err});
    o.out = moelab::read_file(out);
    o.err = moelab::read_file(err);
    return o;
}

bool mpi_available() {
    if (binary() && mpirun()) return true;
    BOOST_TEST_MESSAGE("MOELAB_MPIRUN not set (no mpirun, or moelab built without MPI): the MPI split test is skipped");
    return false;
}

// A top-1 MoE with exactly-1 gates (what the exact solver supports), trained briefly; `gate` other than
// topk-softmax gives one it does not support.
std::string train(const moelab::testing::TempDir& dir, const std::string& name, const std::string& gate = "topk-softmax") {
    const Outcome o = run({"train", "--data", "clusters:K=3,d=4,n=120", "--model", "moe", "--experts", "3", "--top-k", "1",
                           "--gate", gate, "--width", "6", "--hidden", "6", "--epochs", "30", "--lr", "0.01", "--seed", "3",
                           "--threads", "1", "--out", name},
                          dir.path);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    return dir / (name + "/model.ckpt");
}

std::string without_seconds(const std::string& json_path) {
    auto j = nlohmann::json::parse(moelab::read_file(json_path));
    j.erase("seconds");
    return j.dump();
}

// Runs `args` plain and on 1 and 2 ranks, each in its own directory (relative output paths, so that the
// printed reports compare too): the report, `files` byte for byte and `jsons` apart from "seconds".
// One OpenMP thread per rank: two ranks of two spinning threads each on a shared 2-core machine crawl.
void compare_ranks(const moelab::testing::TempDir& dir, const std::string& tag, std::vector<std::string> args,
                   const std::vector<std::string>& files, const std::vector<std::string>& jsons) {
    args.insert(args.end(), {"--threads", "1"});
    const std::string plain = dir / (tag + "_plain");
    fs::create_directories(plain);
    const Outcome base = run(args, plain);
    BOOST_REQUIRE_MESSAGE(base.code == 0, base.err);
    for (int ranks : {1, 2}) {
        const std::string here = dir / (tag + "_np" + std::to_string(ranks));
        fs::create_directories(here);
        const Outcome o = run(args, here, ranks);
        BOOST_TEST_CONTEXT(tag << " on " << ranks << " ranks") {
            BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
            BOOST_TEST(o.out == base.out);
            for (const std::string& f : files)
                BOOST_TEST(moelab::read_file(here + "/" + f) == moelab::read_file(plain + "/" + f), f);
            for (const std::string& f : jsons) BOOST_TEST(without_seconds(here + "/" + f) == without_seconds(plain + "/" + f), f);
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mpi_split)

BOOST_AUTO_TEST_CASE(certify_on_one_and_two_ranks_writes_the_bytes_of_a_plain_run) {
    if (!mpi_available()) return;
    const moelab::testing::TempDir dir("mpi_certify");
    const std::string ckpt = train(dir, "model");
    // 7 samples: blocks of 3 and 4 on two ranks. smoothing numbers its noise streams by sample; crown runs as
    // one batch on rank 0.
    compare_ranks(dir, "exact", {"certify", "--ckpt", ckpt, "--method", "exact", "--samples", "7", "--out", "r.csv"}, {"r.csv"}, {});
    compare_ranks(dir, "smoothing",
                  {"certify", "--ckpt", ckpt, "--method", "smoothing", "--norm", "l2", "--n", "200", "--samples", "7", "--out", "r.csv"},
                  {"r.csv"}, {});
    compare_ranks(dir, "crown", {"certify", "--ckpt", ckpt, "--method", "crown", "--samples", "7", "--out", "r.csv"}, {"r.csv"}, {});
}

BOOST_AUTO_TEST_CASE(check_and_attack_on_one_and_two_ranks_write_the_bytes_of_a_plain_run) {
    if (!mpi_available()) return;
    const moelab::testing::TempDir dir("mpi_check");
    const std::string ckpt = train(dir, "model");
    compare_ranks(dir, "check", {"check", "--ckpt", ckpt, "--samples", "5", "--radius-cap", "0.5", "--out", "."}, {"check.csv"},
                  {"summary.json"});
    // Batches of 2 over 7 samples: two whole batches per rank, random starts numbered within each batch.
    compare_ranks(dir, "pgd",
                  {"attack", "--ckpt", ckpt, "--attack", "pgd", "--eps", "0.3", "--samples", "7", "--batch-size", "2",
                   "--save-adv", "adv.npz", "--out", "a.csv"},
                  {"a.csv", "adv.npz"}, {"a.json"});
}

BOOST_AUTO_TEST_CASE(an_error_while_computing_is_one_line_from_rank_zero_and_no_file) {
    if (!mpi_available()) return;
    const moelab::testing::TempDir dir("mpi_error");
    const std::string ckpt = train(dir, "soft", "softmax-topk");
    // One sample on two ranks: rank 1's block is empty and it still refuses the model.
    const Outcome o = run({"certify", "--ckpt", ckpt, "--method", "exact", "--samples", "1", "--threads", "1", "--out", "r.csv"},
                            dir.path, 2);
    BOOST_TEST(o.code != 0);
    BOOST_TEST(o.err.find("--method exact: moe with gate softmax-topk") != std::string::npos, o.err);
    BOOST_TEST(std::count(o.err.begin(), o.err.end(), '\n') == 1, o.err);
    BOOST_TEST(!fs::exists(dir / "r.csv"));
}

BOOST_AUTO_TEST_SUITE_END()
