// The exact solvers' answers depend on the inputs alone: with the deterministic work limit (branch-and-bound
// nodes, theory/exact/work_limit.hpp) two runs of `check` give the same bytes, one of them while other threads load
// every core, and a limit small enough to stop the search leaves samples bounds_only (so the limit, not the
// problem's ease, is what is being tested). Needs the binary (tests/run_tests.sh sets MOELAB_BIN).
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/atomic_file.hpp"
#include "tests/cli_run.hpp"

namespace fs = std::filesystem;

namespace {

// Spins `threads` threads until destroyed: the load a shared machine puts on a run.
class CpuLoad {
public:
    explicit CpuLoad(unsigned threads) {
        for (unsigned t = 0; t < threads; ++t)
            workers_.emplace_back([this] {
                volatile double sink = 0.0;
                while (!stop_.load(std::memory_order_relaxed)) sink = sink + 1.0;
            });
    }
    ~CpuLoad() {
        stop_ = true;
        for (auto& w : workers_) w.join();
    }

private:
    std::atomic<bool> stop_{false};
    std::vector<std::thread> workers_;
};

int count_of(const std::string& text, const std::string& what) {
    int n = 0;
    for (std::size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(exact_determinism)

BOOST_AUTO_TEST_CASE(check_under_a_work_limit_gives_the_same_bytes_under_cpu_load) {
    if (!cli_run::binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set (run through tests/run_tests.sh): CLI test skipped");
        return;
    }
    const fs::path dir = cli_run::fresh_dir("exact_determinism");
    const std::string model = (dir / "m").string();
    auto o = cli_run::run("train --data clusters:K=4,d=6,n=400 --model mlp --width 12 --hidden 12 --epochs 2 --seed 3 --out " + model, dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const std::string common = "check --ckpt " + model + "/model.ckpt --samples 10 --work-limit 3 --out ";
    o = cli_run::run(common + (dir / "quiet").string(), dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    {
        const CpuLoad load(std::max(2u, std::thread::hardware_concurrency()));
        o = cli_run::run(common + (dir / "loaded").string(), dir);
    }
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const std::string quiet = moelab::read_file((dir / "quiet" / "check.csv").string());
    const std::string loaded = moelab::read_file((dir / "loaded" / "check.csv").string());
    BOOST_TEST(quiet == loaded);
    BOOST_TEST(count_of(quiet, ",bounds_only,") >= 2, quiet);   // the limit stopped the search
    BOOST_TEST(count_of(quiet, ",optimal,") >= 1);
    BOOST_TEST(count_of(quiet, ",1\n") == 0);                    // no result marked load-dependent
    // The opt-in wall clock marks what it stops: a limit far below one solve stops them all.
    o = cli_run::run("check --ckpt " + model + "/model.ckpt --samples 10 --time-limit 1e-9 --out " + (dir / "clock").string(), dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const std::string clock = moelab::read_file((dir / "clock" / "check.csv").string());
    BOOST_TEST(clock.find(",load_dependent\n") != std::string::npos);
    BOOST_TEST(count_of(clock, ",1\n") >= 1, clock);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
