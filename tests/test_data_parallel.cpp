// `moelab train --parallel data` under mpirun: with the same --micro-shards, 1 and 2 MPI processes and a
// plain single-process run end with the same weights, bit for bit, and the same metrics; a process count
// that does not divide the micro-shards is refused. (A failing mpirun job takes over a second to wind down,
// so one error case is checked here; the rule itself is tested in-process in test_micro_shards.cpp.)
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "tests/cli_run.hpp"

namespace fs = std::filesystem;
using namespace cli_run;

namespace {

// Noisy top-2 routing and dropout: every shard draws its own randomness. 400 rows, batches of 100 in 4
// micro-shards of 25.
const std::string kTrain = "train --data clusters:K=4,d=6,n=400 --model moe --experts 4 --top-k 2 --noisy --dropout 0.1 "
                           "--width 16 --hidden 16 --epochs 2 --batch-size 100 --seed 5 --threads 1 ";

// metrics.json without the wall times.
nlohmann::json metrics_without_time(const fs::path& dir) {
    auto j = nlohmann::json::parse(moelab::read_file((dir / "metrics.json").string()));
    for (auto& e : j.at("epochs")) e.erase("seconds");
    return j;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(data_parallel)

BOOST_AUTO_TEST_CASE(one_and_two_mpi_processes_train_the_weights_of_the_plain_run_bit_for_bit) {
    if (!binary() || !mpirun()) {
        BOOST_TEST_MESSAGE("MOELAB_MPIRUN not set (no mpirun, or moelab built without MPI): data-parallel test skipped");
        return;
    }
    const fs::path dir = fresh_dir("data_parallel");
    const Outcome plain = run(kTrain + "--micro-shards 4 --out " + (dir / "plain").string(), dir);
    BOOST_REQUIRE_MESSAGE(plain.code == 0, plain.err);
    for (int ranks : {1, 2}) {
        const fs::path out = dir / ("np" + std::to_string(ranks));
        const Outcome o = run(kTrain + "--micro-shards 4 --parallel data --out " + out.string(), dir, ranks);
        BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
        BOOST_TEST_CONTEXT("np " << ranks) {
            BOOST_TEST(moelab::read_file((out / "model.npz").string()) == moelab::read_file((dir / "plain" / "model.npz").string()));
            BOOST_TEST(metrics_without_time(out) == metrics_without_time(dir / "plain"));
        }
    }
    // The error names the flag, in one line (-q keeps mpirun's own banner out).
    const Outcome uneven = run(kTrain + "--micro-shards 3 --parallel data --out " + (dir / "x").string(), dir, 2);
    BOOST_TEST(uneven.code != 0);
    BOOST_TEST(count_lines(uneven.err) == 1, uneven.err);
    BOOST_TEST(uneven.err.find("--micro-shards: 3 is not a multiple of the 2 MPI processes") != std::string::npos, uneven.err);
    BOOST_TEST(!fs::exists(dir / "x" / "model.ckpt"));
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
