// moelab sweep through the real binary: a small grid of runs (tiny clustered data, train and attack and
// certify stages) gives a results.csv that is the same bytes on 1 process and on 2 MPI ranks; a restarted
// sweep skips finished runs; bad grid files fail with one line naming the file and the key.
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "tests/cli_run.hpp"

namespace fs = std::filesystem;
using namespace cli_run;

namespace {

// 2 configs x 2 seeds, about 50 ms a run.
const char* kGrid = R"({
  "data": "clusters:K=4,d=6,n=200",
  "base": {"kind": "moe", "experts": 4, "top_k": 1, "width": 8, "hidden": 8, "epochs": 2, "batch_size": 50},
  "vary": {"lb_weight": [0.0, 0.01]},
  "seeds": [1, 2],
  "stages": ["train", "attack", "certify"],
  "attack": {"attack": "pgd", "eps": 0.3, "steps": 5, "samples": 20},
  "certify": {"method": "ibp", "samples": 10}
})";

}  // namespace

BOOST_AUTO_TEST_SUITE(sweep)

BOOST_AUTO_TEST_CASE(a_sweep_writes_the_same_results_csv_on_1_process_and_2_mpi_ranks) {
    if (!binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set (run through tests/run_tests.sh): sweep test skipped");
        return;
    }
    const fs::path dir = fresh_dir("sweep");
    const std::string grid = (dir / "grid.json").string();
    moelab::write_file_atomic(grid, kGrid);
    const Outcome one = run("sweep --threads 1 --grid " + grid + " --out " + (dir / "one").string(), dir);
    BOOST_REQUIRE_MESSAGE(one.code == 0, one.err);
    const std::string csv = moelab::read_file((dir / "one" / "results.csv").string());
    BOOST_TEST(csv.rfind("run,lb_weight,seed,train_loss,test_loss,test_accuracy,experts_above_1pct,usage_entropy,max_expert_share,"
                         "collapsed,clean_accuracy,robust_accuracy,"
                         "routing_change_rate,certified_fraction,mean_certified_radius\n0,0.0,1,", 0) == 0u, csv);
    BOOST_TEST(count_lines(csv) == 5);
    for (const char* file : {"run.json", "model.ckpt", "metrics.json", "attack.csv", "attack.json", "certify.csv", "result.json"})
        BOOST_TEST(fs::exists(dir / "one" / "runs" / "0003" / file), file);
    if (!mpirun()) {
        BOOST_TEST_MESSAGE("MOELAB_MPIRUN not set (no mpirun, or moelab built without MPI): the 2-rank sweep is skipped");
        fs::remove_all(dir);
        return;
    }
    const Outcome two = run("sweep --threads 1 --grid " + grid + " --out " + (dir / "two").string(), dir, 2);
    BOOST_REQUIRE_MESSAGE(two.code == 0, two.err);
    BOOST_TEST(two.out.find("on 2 ranks") != std::string::npos, two.out);
    BOOST_TEST(moelab::read_file((dir / "two" / "results.csv").string()) == csv);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_restarted_sweep_skips_finished_runs_and_redoes_the_missing_one) {
    if (!binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set: sweep test skipped");
        return;
    }
    const fs::path dir = fresh_dir("sweep_restart");
    const std::string grid = (dir / "grid.json").string(), out = (dir / "out").string();
    moelab::write_file_atomic(grid, kGrid);
    const std::string cmd = "sweep --threads 1 --grid " + grid + " --out " + out;
    BOOST_REQUIRE(run(cmd, dir).code == 0);
    const std::string csv = moelab::read_file(out + "/results.csv");
    // As after a kill during run 2: its folder never got its final name, a temporary one is left.
    fs::rename(dir / "out" / "runs" / "0002", dir / "out" / "runs" / ".0002.tmp");
    fs::remove(dir / "out" / "results.csv");
    const int ranks = mpirun() ? 2 : 0;   // with MPI, the restart runs on 2 ranks
    const Outcome again = run(cmd, dir, ranks);
    BOOST_REQUIRE_MESSAGE(again.code == 0, again.err);
    BOOST_TEST(again.out.find("(1 made, 3 finished before)") != std::string::npos, again.out);
    BOOST_TEST(!fs::exists(dir / "out" / "runs" / ".0002.tmp"));
    BOOST_TEST(moelab::read_file(out + "/results.csv") == csv);
    // The same folder with another grid is refused, naming the run folder.
    std::string other = kGrid;
    other.replace(other.find("\"epochs\": 2"), 11, "\"epochs\": 3");
    moelab::write_file_atomic(grid, other);
    const Outcome refused = run(cmd, dir);
    BOOST_TEST(refused.code != 0);
    BOOST_TEST(refused.err.find("runs/0000: holds a run of another grid") != std::string::npos, refused.err);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(bad_grid_files_fail_with_one_line_naming_the_file_and_key) {
    if (!binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set: sweep test skipped");
        return;
    }
    const fs::path dir = fresh_dir("sweep_bad");
    const std::string d = R"("data": "clusters:K=3,d=4,n=60", )";
    // Each row: the grid file's text, and what its one-line error must name after "bad.json: ".
    const std::vector<std::pair<std::string, std::string>> cases{
        {"", "bad.json: not valid JSON"},
        {"[1, 2]", "bad.json: expected a JSON object"},
        {"{}", "bad.json: data: missing"},
        {"{" + d + R"("nope": 1})", "bad.json: nope: unknown key"},
        {"{" + d + R"("base": {"experts": "four"}})", "bad.json: base: model config: key 'experts' has the wrong type"},
        {"{" + d + R"("base": {"colour": 1}})", "bad.json: base.colour: unknown key"},
        {"{" + d + R"("base": {"seed": 3}})", "bad.json: base.seed: not a grid key"},
        {"{" + d + R"("vary": {"lr": []}})", "bad.json: vary.lr: expected a non-empty list"},
        {"{" + d + R"("vary": {"lr": 0.1}})", "bad.json: vary.lr: expected a non-empty list"},
        {"{" + d + R"("vary": {"lr": [0.1, "fast"]}})", "bad.json: vary.lr[1]: train config: key 'lr' has the wrong type"},
        {"{" + d + R"("vary": {"lr": [0.1, -1]}})", "bad.json: vary.lr[1]: --lr: must be positive"},
        {"{" + d + R"("vary": {"experts": [2, 4], "top_k": [3]}})", R"(bad.json: vary: run 0 {"experts":2,"top_k":3}: --top-k)"},
        {"{" + d + R"("seeds": []})", "bad.json: seeds: expected a non-empty list"},
        {"{" + d + R"("seeds": [1.5]})", "bad.json: seeds[0]: expected a non-negative integer"},
        {"{" + d + R"("stages": ["attack"]})", "bad.json: stages: must include train"},
        {"{" + d + R"("stages": ["train", "attack"]})", "bad.json: attack: missing"},
        {"{" + d + R"("attack": {"attack": "pgd"}})", "bad.json: attack: given, but attack is not in stages"},
        {"{" + d + R"("stages": ["train", "attack"], "attack": {"attack": "pgd", "eps": "big"}})", "bad.json: attack.eps: expected a number"},
        {"{" + d + R"("stages": ["train", "attack"], "attack": {"attack": "pgd", "steps": 0}})", "bad.json: attack.steps: must be at least 1"},
        {"{" + d + R"("stages": ["train", "certify"], "certify": {"method": "magic"}})", "bad.json: certify.method: expected one of"},
        {R"({"data": "clusters:K=3,d=4,n=60,q=1"})", "bad.json: data: "},
    };
    const std::string grid = (dir / "bad.json").string();
    for (const auto& [text, what] : cases) {
        BOOST_TEST_CONTEXT(text) {
            moelab::write_file_atomic(grid, text);
            const Outcome o = run("sweep --grid " + grid + " --out " + (dir / "out").string(), dir);
            BOOST_TEST(o.code != 0);
            BOOST_TEST(count_lines(o.err) == 1, o.err);
            BOOST_TEST(o.err.find(what) != std::string::npos, "expected '" << what << "' in: " << o.err);
        }
    }
    const Outcome missing = run("sweep --grid " + (dir / "absent.json").string() + " --out " + (dir / "out").string(), dir);
    BOOST_TEST(missing.code != 0);
    BOOST_TEST(missing.err.find("absent.json") != std::string::npos, missing.err);
    BOOST_TEST(!fs::exists(dir / "out" / "results.csv"));   // nothing half-written
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
