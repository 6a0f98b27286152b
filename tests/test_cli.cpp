// The moelab command as a user meets it: a tiny train -> attack run through the real binary, and bad
// input that must give a one-line error naming the flag or file and a non-zero exit. Needs the binary:
// tests/run_tests.sh sets MOELAB_BIN (the test is skipped, saying so, when it is not set).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/atomic_file.hpp"
#include "experiments/claims/stats.hpp"
#include "tests/cli_run.hpp"

namespace fs = std::filesystem;

namespace {

using cli_run::binary;
using cli_run::fresh_dir;
using cli_run::Outcome;
using cli_run::run;

// The last line of stderr: one line, naming `what`.
void expect_error(const Outcome& o, const std::string& what) {
    BOOST_TEST(o.code != 0);
    std::string last, line;
    std::istringstream in(o.err);
    int lines = 0;
    while (std::getline(in, line))
        if (!line.empty()) last = line, ++lines;
    BOOST_TEST(lines == 1, "stderr: " << o.err);
    BOOST_TEST(last.find(what) != std::string::npos, "expected '" << what << "' in: " << last);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(train_then_attack_writes_the_promised_files) {
    if (!binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set (run through tests/run_tests.sh): CLI test skipped");
        return;
    }
    const fs::path dir = fresh_dir("attack");
    const std::string model = (dir / "m").string();
    Outcome o = run("train --data clusters:K=4,d=6,n=400 --model moe --experts 4 --top-k 1 --width 8 --hidden 8 "
                    "--epochs 2 --seed 3 --out " + model, dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const std::string csv = (dir / "pgd.csv").string();
    o = run("attack --ckpt " + model + "/model.ckpt --attack pgd --norm linf --eps 0.3 --steps 5 --samples 40 --out " + csv, dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const std::string text = moelab::read_file(csv);
    BOOST_TEST(text.rfind("index,label,clean_pred,adv_pred,success,distance,routing_changed,top1_changed,experts_before,experts_after\n", 0) == 0u);
    BOOST_TEST(std::count(text.begin(), text.end(), '\n') == 41);
    const auto j = nlohmann::json::parse(moelab::read_file((dir / "pgd.json").string()));
    const double clean = j.at("clean_accuracy"), robust = j.at("robust_accuracy");
    BOOST_TEST((clean >= 0.0 && clean <= 1.0));
    BOOST_TEST(robust <= clean);
    // Same command, 1 and 3 threads: the same bytes.
    const std::string csv1 = (dir / "t1.csv").string(), csv3 = (dir / "t3.csv").string();
    const std::string common = "attack --ckpt " + model + "/model.ckpt --attack apgd-ce --eps 0.3 --steps 5 --samples 40 ";
    BOOST_REQUIRE(run(common + "--threads 1 --out " + csv1, dir).code == 0);
    BOOST_REQUIRE(run(common + "--threads 3 --out " + csv3, dir).code == 0);
    BOOST_TEST(moelab::read_file(csv1) == moelab::read_file(csv3));
    // certify, lipschitz and check on the same model.
    o = run("certify --ckpt " + model + "/model.ckpt --method ibp --samples 20 --out " + (dir / "ibp.csv").string(), dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    BOOST_TEST(moelab::read_file((dir / "ibp.csv").string()).rfind("index,label,certified_radius,status,route_stable_radius,route_class\n", 0) == 0u);
    o = run("lipschitz --ckpt " + model + "/model.ckpt --norm l2 --samples 20 --out " + (dir / "lip.json").string(), dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const auto lip = nlohmann::json::parse(moelab::read_file((dir / "lip.json").string()));
    BOOST_TEST(lip.at("lower").at("gradient").get<double>() > 0.0);
    BOOST_TEST(lip.at("exact").is_null());   // the exact constant is for linf only
    o = run("lipschitz --ckpt " + model + "/model.ckpt --norm linf --samples 20 --exact-samples 2 --exact-time-limit 2 --out " +
                (dir / "lip_linf.json").string(), dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const auto exact = nlohmann::json::parse(moelab::read_file((dir / "lip_linf.json").string())).at("exact");
    BOOST_TEST(exact.at("global").at("status").get<std::string>() == "unsupported");   // softmax gate: not piecewise linear
    BOOST_TEST(exact.at("local").size() == 2u);
    o = run("check --ckpt " + model + "/model.ckpt --norm linf --samples 15 --out " + (dir / "check").string(), dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const auto summary = nlohmann::json::parse(moelab::read_file((dir / "check" / "summary.json").string()));
    BOOST_TEST(summary.at("violations").get<int>() == 0);
    // A method that covered samples is "checked"; one left out (no --exact-lipschitz) says "not run", not "sound".
    const auto& ibp = summary.at("methods").at("ibp");
    BOOST_TEST(ibp.at("samples_covered").get<int>() == 15);
    BOOST_TEST(ibp.at("status").get<std::string>() == "checked");
    BOOST_TEST(ibp.at("kind").get<std::string>() == "certificate");
    BOOST_TEST(summary.at("methods").at("naive").at("kind").get<std::string>() == "diagnostic");
    const auto& exact_lip = summary.at("methods").at("exact-lipschitz");
    BOOST_TEST(exact_lip.at("samples_covered").get<int>() == 0);
    BOOST_TEST(exact_lip.at("status").get<std::string>() == "not run");
    BOOST_TEST(!exact_lip.contains("sound"));
    BOOST_TEST(fs::exists(dir / "check" / "check.csv"));
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(repro_writes_a_claim_result_and_the_report) {
    if (!binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set: CLI test skipped");
        return;
    }
    const fs::path dir = fresh_dir("repro");
    const Outcome o = run("repro --claims C10 --out " + dir.string(), dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const auto r = nlohmann::json::parse(moelab::read_file((dir / "claims" / "C10" / "result.json").string()));
    // The verdict is the rule read on the interval over seeds (C10: the share of seeds whose model beats the naive
    // bound on some sample, with its exact binomial interval; reproduced when it lies above 0); the sound
    // certificates are never beaten.
    const auto& iv = r.at("interval");
    int seeds_beaten = 0;
    for (const auto& s : r.at("data").at("per_seed")) seeds_beaten += s.at("samples_naive_bound_beaten").get<int>() > 0;
    const moelab::cli::Interval share = moelab::cli::share_interval(seeds_beaten, 5);
    BOOST_TEST(iv.at("mean").get<double>() == share.mean);
    BOOST_TEST(iv.at("lo").get<double>() == share.lo);
    BOOST_TEST(iv.at("hi").get<double>() == share.hi);
    const std::string expected = iv.at("lo").get<double>() > 0.0    ? "reproduced"
                                 : iv.at("hi").get<double>() < 0.0 ? "not reproduced"
                                                                   : "inconclusive";
    BOOST_TEST(r.at("verdict").get<std::string>() == expected);
    BOOST_TEST(r.at("seeds").size() == 5u);
    BOOST_TEST(iv.at("mean").get<double>() > 0.0);   // the naive bound is beaten on some seed
    BOOST_TEST(!r.at("paper").get<std::string>().empty());
    BOOST_TEST(r.at("checker_violations").get<int>() == 0);
    const std::string report = moelab::read_file((dir / "REPORT.md").string());
    // The summary table comes first, and is printed too; the checker section names the claims it covers.
    BOOST_TEST(report.find("## Summary") < report.find("## C10"));
    BOOST_TEST(o.out.find("| C10 |") != std::string::npos);
    BOOST_TEST(report.find("over the samples checked by C10: **0**") != std::string::npos);
    BOOST_TEST(report.find("{\"") == std::string::npos);   // no raw JSON in the report text
    expect_error(run("repro --claims C99 --out " + dir.string(), dir), "--claims");
    fs::remove_all(dir);
}

namespace {
// certified_radius per row of a `moelab certify` CSV (index,label,certified_radius,status).
std::vector<double> certified_column(const std::string& path) {
    std::istringstream in(moelab::read_file(path));
    std::string line;
    std::getline(in, line);
    std::vector<double> radius;
    while (std::getline(in, line)) {
        std::istringstream row(line);
        std::string cell;
        for (int c = 0; c < 3; ++c) std::getline(row, cell, ',');
        radius.push_back(cell.empty() ? std::nan("") : std::stod(cell));
    }
    return radius;
}
}  // namespace

// certify --method exact-lipschitz on a small MLP: a radius per sample, none above the exact minimal
// distance that --method exact proves on the same samples; a softmax-gated MoE is refused with the reason.
BOOST_AUTO_TEST_CASE(certify_exact_lipschitz_stays_below_the_exact_distance) {
    if (!binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set: CLI test skipped");
        return;
    }
    const fs::path dir = fresh_dir("exact_lipschitz");
    const std::string model = (dir / "m").string();
    BOOST_REQUIRE(run("train --data clusters:K=3,d=3,n=300 --model mlp --width 6 --epochs 30 --lr 0.01 --seed 2 --out " + model,
                      dir).code == 0);
    const std::string ckpt = model + "/model.ckpt";
    const std::string lip = (dir / "lip.csv").string(), exact = (dir / "exact.csv").string();
    Outcome o = run("certify --ckpt " + ckpt + " --method exact-lipschitz --samples 5 --radius-cap 0.7 --out " + lip, dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    o = run("certify --ckpt " + ckpt + " --method exact --samples 5 --radius-cap 0.7 --out " + exact, dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    const std::vector<double> r = certified_column(lip), d = certified_column(exact);
    BOOST_REQUIRE(r.size() == 5u);
    BOOST_REQUIRE(d.size() == 5u);
    int below_an_exact_distance = 0;   // positive, and the exact distance is below the cap (a real comparison)
    for (std::size_t i = 0; i < r.size(); ++i) {
        BOOST_TEST(r[i] <= d[i] * (1.0 + 1e-6) + 1e-9, "sample " << i << ": exact-lipschitz " << r[i] << " > exact " << d[i]);
        below_an_exact_distance += r[i] > 0.0 && d[i] < 0.7;
    }
    BOOST_TEST(below_an_exact_distance >= 2);
    BOOST_REQUIRE(run("train --data clusters:K=3,d=3,n=150 --experts 2 --top-k 1 --width 4 --hidden 4 --epochs 1 --out " + model + "2",
                      dir).code == 0);
    expect_error(run("certify --ckpt " + model + "2/model.ckpt --method exact-lipschitz --samples 2 --out " + lip, dir),
                 "--method exact-lipschitz");
    fs::remove_all(dir);
}

// Each row: arguments after the model path is known, and what the one-line error must name.
BOOST_AUTO_TEST_CASE(bad_input_gets_one_line_naming_the_flag_or_file) {
    if (!binary()) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set: CLI test skipped");
        return;
    }
    const fs::path dir = fresh_dir("bad");
    const std::string model = (dir / "m").string();
    BOOST_REQUIRE(run("train --data clusters:K=3,d=4,n=120 --model moe --experts 3 --top-k 1 --width 6 --hidden 6 "
                      "--epochs 1 --out " + model, dir).code == 0);
    const std::string ckpt = model + "/model.ckpt";
    const std::string out = " --out " + (dir / "x.csv").string();
    moelab::write_file_atomic((dir / "unknown.json").string(), "{\"experts\": 3, \"nope\": 1}");
    moelab::write_file_atomic((dir / "wrongtype.json").string(), "{\"top_k\": \"two\"}");
    moelab::write_file_atomic((dir / "badk.toml").string(), "experts = 2\ntop_k = 3\n");
    const std::vector<std::pair<std::string, std::string>> cases{
        {"attack --ckpt " + ckpt + " --attack pgd --eps -0.1" + out, "--eps"},
        {"attack --ckpt " + ckpt + " --attack pgd --eps nan" + out, "--eps"},
        {"attack --ckpt " + ckpt + " --attack nope" + out, "--attack"},
        {"attack --ckpt " + ckpt + " --attack pgd --norm l3" + out, "--norm"},
        {"attack --ckpt " + ckpt + " --attack pgd --steps 0" + out, "--steps"},
        {"attack --ckpt " + ckpt + " --attack pgd --samples 0" + out, "--samples"},
        {"attack --ckpt " + ckpt + " --attack deepfool --target next" + out, "--target"},
        {"attack --ckpt " + ckpt + " --attack pgd --target 7" + out, "--target"},
        {"attack --ckpt " + ckpt + " --attack swap --swap-rank 1" + out, "--swap-rank"},
        {"attack --ckpt " + (dir / "missing.ckpt").string() + " --attack pgd" + out, "missing.ckpt"},
        {"train --data clusters:K=3,d=4,n=120 --experts 2 --top-k 3 --out " + model + "2", "--top-k"},
        {"train --data clusters:K=3,d=4,n=120 --lr nan --out " + model + "3", "--lr"},
        {"train --data clusters:K=3,d=4,n=120,q=1 --out " + model + "4", "q"},
        {"eval --ckpt " + (dir / "missing.ckpt").string() + " --out " + (dir / "e.json").string(), "missing.ckpt"},
        {"train --data clusters:K=3,d=4,n=120 --config " + (dir / "unknown.json").string() + " --out " + model + "5", "nope"},
        {"train --data clusters:K=3,d=4,n=120 --config " + (dir / "wrongtype.json").string() + " --out " + model + "6", "top-k"},
        {"train --data clusters:K=3,d=4,n=120 --config " + (dir / "badk.toml").string() + " --out " + model + "7", "--top-k"},
        {"train --data clusters:K=3,d=4,n=120 --config " + (dir / "absent.json").string() + " --out " + model + "8", "absent.json"},
        {"train --data clusters:K=3,d=4,n=120 --width 0 --out " + model + "9", "--width"},
        {"certify --ckpt " + ckpt + " --method magic --out " + (dir / "c.csv").string(), "--method"},
        {"certify --ckpt " + ckpt + " --method smoothing --norm linf --out " + (dir / "c.csv").string(), "--norm l2"},
        {"certify --ckpt " + ckpt + " --method ibp --samples -3 --out " + (dir / "c.csv").string(), "--samples"},
        {"check --ckpt " + ckpt + " --radius-cap 0 --out " + (dir / "chk").string(), "--radius-cap"},
        {"check --ckpt " + ckpt + " --time-limit -1 --out " + (dir / "chk").string(), "--time-limit"},
        {"certify --ckpt " + ckpt + " --method exact-lipschitz --radius-cap inf --out " + (dir / "c.csv").string(), "--radius-cap"},
        {"certify --ckpt " + ckpt + " --method exact --time-limit 0 --out " + (dir / "c.csv").string(), "--time-limit"},
        {"certify --ckpt " + ckpt + " --method exact-lipschitz --norm l2 --out " + (dir / "c.csv").string(), "--norm linf"},
    };
    for (const auto& [args, what] : cases) {
        BOOST_TEST_CONTEXT(args) { expect_error(run(args, dir), what); }
    }
    // A config file sets the flags the command line does not give; the command line wins.
    moelab::write_file_atomic((dir / "ok.toml").string(), "experts = 3\ntop_k = 2\nepochs = 1\nwidth = 5\n");
    BOOST_REQUIRE(run("train --data clusters:K=3,d=4,n=120 --hidden 4 --width 7 --config " + (dir / "ok.toml").string() +
                      " --out " + model + "10", dir).code == 0);
    const auto m = nlohmann::json::parse(moelab::read_file(model + "10/metrics.json")).at("model");
    BOOST_TEST(m.at("top_k").get<int>() == 2);
    BOOST_TEST(m.at("experts").get<int>() == 3);
    BOOST_TEST(m.at("width").get<int>() == 7);
    // Nothing half-written: the failed attacks left no output file.
    BOOST_TEST(!fs::exists(dir / "x.csv"));
    // A truncated checkpoint is named.
    const std::string bytes = moelab::read_file(ckpt);
    moelab::write_file_atomic((dir / "cut.ckpt").string(), bytes.substr(0, bytes.size() / 2));
    expect_error(run("attack --ckpt " + (dir / "cut.ckpt").string() + " --attack pgd" + out, dir), "cut.ckpt");
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
