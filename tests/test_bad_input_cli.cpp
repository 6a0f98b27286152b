// Hostile files and careless commands through the real binary (issue 16): no unsound answer, no lost
// data, no shell. Each case would have passed silently (or crashed) before; each now ends with one line on
// stderr naming the flag or file and a non-zero exit, with nothing written or overwritten.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/atomic_file.hpp"
#include "engine/checkpoint.hpp"
#include "tests/cli_run.hpp"
#include "experiments/io/program_run.hpp"

using moelab::cli::on_path;
using moelab::cli::run_program;

namespace fs = std::filesystem;

namespace {

using cli_run::binary;
using cli_run::fresh_dir;
using cli_run::Outcome;
using cli_run::run;

const std::string kTinyTrain = "train --data clusters:K=4,d=6,n=200 --model mlp --width 8 --hidden 8 --batch-size 50 ";

bool expect_error(const Outcome& o, const std::vector<std::string>& parts) {
    BOOST_TEST(o.code != 0);
    BOOST_TEST(cli_run::count_lines(o.err) == 1, "stderr: " << o.err);
    bool ok = o.code != 0;
    for (const auto& p : parts) {
        const bool found = o.err.find(p) != std::string::npos;
        BOOST_TEST(found, "expected '" << p << "' in: " << o.err);
        ok = ok && found;
    }
    return ok;
}

// `moelab ARGS` run from `cwd`, by the binary's absolute path (the figure scripts must be found anyway), with
// an argument vector: no shell sees the arguments.
Outcome run_from(const fs::path& cwd, const std::vector<std::string>& args, const fs::path& logs) {
    std::vector<std::string> argv{fs::absolute(binary()).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    Outcome o;
    o.code = run_program(argv, {.cwd = cwd.string(), .stdout_path = logs / "stdout.txt", .stderr_path = logs / "stderr.txt"});
    o.out = moelab::read_file((logs / "stdout.txt").string());
    o.err = moelab::read_file((logs / "stderr.txt").string());
    return o;
}

std::string tiny_run(const fs::path& dir, const std::string& name, const std::string& extra = "") {
    const std::string out = (dir / name).string();
    const Outcome o = run(kTinyTrain + "--epochs 1 --out " + out + " " + extra, dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bad_input_cli)

BOOST_AUTO_TEST_CASE(a_checkpoint_with_an_infinite_weight_gets_no_certificate_from_any_command) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("inf_cli");
    const std::string model = tiny_run(dir, "m");
    moelab::Checkpoint ck = moelab::read_checkpoint(model + "/model.ckpt");
    for (auto& t : ck.tensors)
        if (t.name == "head.weight") t.tensor.data()[0] = -std::numeric_limits<double>::infinity();
    const std::string bad = (dir / "inf.ckpt").string();
    moelab::write_checkpoint(bad, ck);   // checksum valid
    for (const std::string& cmd : {"lipschitz --norm l2 --samples 5 --out " + (dir / "l.json").string(),
                                   "lipschitz --norm linf --samples 5 --out " + (dir / "l.json").string(),
                                   "certify --method lipschitz --samples 5 --out " + (dir / "c.csv").string(),
                                   "certify --method exact --samples 2 --out " + (dir / "c.csv").string(),
                                   "check --no-exact --samples 3 --out " + (dir / "chk").string()}) {
        BOOST_TEST_CONTEXT(cmd) { expect_error(run(cmd + " --ckpt " + bad, dir), {bad, "'head.weight'", "-inf"}); }
    }
    BOOST_TEST(!fs::exists(dir / "l.json"));
    BOOST_TEST(!fs::exists(dir / "c.csv"));
    fs::remove_all(dir);
}

// The --out is a shell command substitution; it must stay a directory name. Run from another directory,
// the figure script is found beside the binary, and "wrote" names check.png only when it exists.
BOOST_AUTO_TEST_CASE(check_out_with_shell_syntax_runs_no_shell_and_draws_from_any_directory) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("shell");
    // Trained well enough that some sample is classified right (gnuplot fails on an all-empty plot).
    const std::string model = (dir / "m").string();
    BOOST_REQUIRE(run("train --data clusters:K=4,d=6,n=200 --model mlp --width 8 --hidden 8 --batch-size 20 --lr 0.01 --epochs 5 --out " +
                          model, dir).code == 0);
    fs::create_directories(dir / "elsewhere");
    const std::string out = "k/x$(touch " + (dir / "pwned").string() + ")";
    const Outcome o =
        run_from(dir / "elsewhere", {"check", "--no-exact", "--samples", "10", "--ckpt", model + "/model.ckpt", "--out", out}, dir);
    BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    BOOST_TEST(!fs::exists(dir / "pwned"));
    const fs::path written = dir / "elsewhere" / out;
    BOOST_TEST(fs::exists(written / "check.csv"));
    const bool png = fs::exists(written / "check.png");
    BOOST_TEST((o.out.find("check.png") != std::string::npos) == png, o.out);
    if (on_path("gnuplot")) BOOST_TEST(png);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(an_output_that_is_an_input_is_refused_and_the_input_survives) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("out_in");
    const std::string model = tiny_run(dir, "m"), ckpt = model + "/model.ckpt";
    const std::string before = moelab::read_file(ckpt);
    fs::create_hard_link(ckpt, dir / "link.ckpt");
    for (const std::string& out : {ckpt, model + "/./model.ckpt", (dir / "link.ckpt").string()})
        for (const std::string cmd : {"eval --samples 5", "attack --attack fgsm --samples 5", "certify --method ibp --samples 5",
                                       "lipschitz --samples 5"}) {
            BOOST_TEST_CONTEXT(cmd << " --out " << out) {
                expect_error(run(cmd + " --ckpt " + ckpt + " --out " + out, dir), {"--out", "is the input --ckpt"});
            }
        }
    BOOST_TEST(moelab::read_file(ckpt) == before);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_second_run_on_one_directory_and_an_accidental_overwrite_are_refused) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("lock");
    const std::string model = tiny_run(dir, "m");
    const std::string before = moelab::read_file(model + "/model.ckpt");
    {   // A run in progress holds the lock (the test holds it here, so there is no race).
        const int fd = ::open((model + "/.moelab.lock").c_str(), O_RDWR | O_CLOEXEC);
        BOOST_REQUIRE(fd >= 0);
        BOOST_REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
        expect_error(run(kTinyTrain + "--epochs 2 --resume --out " + model, dir), {"--out " + model, "another moelab train is running"});
        ::close(fd);
    }
    expect_error(run(kTinyTrain + "--epochs 1 --seed 9 --out " + model, dir), {"holds a run", "--resume", "--force"});
    BOOST_TEST(moelab::read_file(model + "/model.ckpt") == before);
    BOOST_TEST(run(kTinyTrain + "--epochs 1 --seed 9 --force --out " + model, dir).code == 0);
    BOOST_TEST(moelab::read_file(model + "/model.ckpt") != before);
    fs::remove_all(dir);
}

// The epoch's files are committed by manifest.json, written last: a checkpoint it does not name (another
// run's, or an epoch whose metrics are not yet written) is refused by readers.
BOOST_AUTO_TEST_CASE(readers_refuse_a_checkpoint_the_run_manifest_does_not_name) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("manifest");
    const std::string a = tiny_run(dir, "a"), b = tiny_run(dir, "b", "--seed 5");
    BOOST_TEST(run("eval --samples 5 --ckpt " + a + "/model.ckpt --out " + (dir / "ok.json").string(), dir).code == 0);
    fs::copy_file(b + "/model.ckpt", a + "/model.ckpt", fs::copy_options::overwrite_existing);
    expect_error(run("eval --samples 5 --ckpt " + a + "/model.ckpt --out " + (dir / "e.json").string(), dir),
                 {a + "/model.ckpt", "does not match", "manifest.json"});
    BOOST_TEST(!fs::exists(dir / "e.json"));
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(resume_cleans_stale_temporaries_and_says_when_nothing_is_left_to_train) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("resume");
    const std::string model = tiny_run(dir, "m");
    const fs::path stale = fs::path(model) / "model.ckpt.tmp.99999999";
    std::ofstream(stale) << "half a checkpoint";
    Outcome o = run(kTinyTrain + "--epochs 1 --resume --out " + model, dir);
    BOOST_TEST(o.code == 0);
    BOOST_TEST(o.out.find("wrote") == std::string::npos, o.out);
    BOOST_TEST(o.err.find("nothing written") != std::string::npos, o.err);
    BOOST_TEST(!fs::exists(stale));
    BOOST_TEST(run(kTinyTrain + "--epochs 2 --resume --out " + model, dir).code == 0);
    expect_error(run(kTinyTrain + "--epochs 1 --resume --out " + model, dir), {"--epochs 1", "already holds 2 epochs"});
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(flags_and_files_out_of_bounds_are_refused_in_one_line) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("flags");
    const std::string model = tiny_run(dir, "m"), ckpt = model + "/model.ckpt", out = (dir / "o").string();
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
        {kTinyTrain + "--threads 0 --out " + out, {"--threads", "[1, 256]", "got 0"}},
        {kTinyTrain + "--threads 100000 --out " + out, {"--threads", "got 100000"}},
        {"eval --threads 100000 --ckpt " + ckpt + " --out " + out, {"--threads"}},
        {kTinyTrain + "--seed -1 --out " + out, {"--seed", "non-negative", "-1"}},
        {kTinyTrain + "--train-limit 0 --out " + out, {"--train-limit", "got 0"}},
        {kTinyTrain + "--train-limit -5 --out " + out, {"--train-limit", "got -5"}},
        {kTinyTrain + "--stop-after -1 --out " + out, {"--stop-after", "got -1"}},
        {"eval --samples -1 --ckpt " + ckpt + " --out " + out, {"--samples", "got -1"}},
        {"attack --attack swap --swap-rank -1 --ckpt " + ckpt + " --out " + out, {"--swap-rank", "got -1"}},
        {"certify --method ibp --radius-cap nan --ckpt " + ckpt + " --out " + out, {"--radius-cap", "got nan"}},
        {"frob", {"unknown command 'frob'", "train"}},
        {"train --data clusters:d=100000000 --out " + out, {"--data clusters:d=100000000", "more than the limit"}},
        {"train --width 1000000000 --data clusters:K=4,d=6,n=200 --out " + out, {"--width", "more than the limit"}},
        {"train --config /dev/zero --out " + out, {"--config", "/dev/zero", "not a regular file"}},
        {"train --config " + model + " --out " + out, {"--config", model, "is a directory"}},
        {"eval --ckpt " + model + " --out " + out, {model, "is a directory"}},
        {"eval --ckpt /dev/zero --out " + out, {"/dev/zero", "not a moelab checkpoint"}},
        {"eval --ckpt " + ckpt + " --out " + (dir / "missing" / "e.json").string(), {"--out", "does not exist"}},
        {"eval --ckpt " + ckpt + " --out " + model, {"--out", "is a directory"}},
    };
    for (const auto& [args, parts] : cases) BOOST_TEST_CONTEXT(args) { expect_error(run(args, dir), parts); }
    BOOST_TEST(!fs::exists(out));
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(attack_with_an_unwritable_save_adv_writes_nothing) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("save_adv");
    const std::string model = tiny_run(dir, "m");
    const std::string csv = (dir / "a.csv").string();
    expect_error(run("attack --attack fgsm --samples 5 --ckpt " + model + "/model.ckpt --out " + csv + " --save-adv " +
                         (dir / "missing" / "adv.npz").string(), dir),
                 {"--save-adv", "does not exist"});
    BOOST_TEST(!fs::exists(csv));
    BOOST_TEST(!fs::exists(dir / "a.json"));
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_refused_command_leaves_no_directory_it_created) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("refused_dirs");
    const std::string ckpt = tiny_run(dir, "m") + "/model.ckpt";
    // --samples is checked after --out's directories were made: they go again, an existing one stays.
    expect_error(run("check --samples 0 --ckpt " + ckpt + " --out " + (dir / "new" / "deeper").string(), dir), {"--samples"});
    BOOST_TEST(!fs::exists(dir / "new"));
    fs::create_directories(dir / "kept");
    expect_error(run("certify --method nonsense --ckpt " + ckpt + " --out " + (dir / "kept" / "c").string(), dir),
                 {"--method"});
    BOOST_TEST(fs::exists(dir / "kept"));
    BOOST_TEST(!fs::exists(dir / "kept" / "c"));
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(config_files_with_a_bom_are_read_duplicates_and_binary_are_refused) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("config");
    const auto write = [&](const std::string& name, const std::string& bytes) {
        std::ofstream(dir / name, std::ios::binary) << bytes;
        return (dir / name).string();
    };
    const std::string bom = write("bom.json", "\xEF\xBB\xBF{\"epochs\": 1, \"model\": \"mlp\", \"width\": 8, \"hidden\": 8}");
    const Outcome ok = run("train --data clusters:K=4,d=6,n=200 --config " + bom + " --out " + (dir / "b").string(), dir);
    BOOST_TEST(ok.code == 0, ok.err);
    BOOST_TEST(ok.out.find("after 1 epochs") != std::string::npos, ok.out);
    const std::string dup = write("dup.json", "{\"epochs\": 1, \"epochs\": 3}");
    expect_error(run("train --config " + dup + " --out " + (dir / "d").string(), dir), {"--config", "duplicate key 'epochs'"});
    const std::string bin = write("bin.toml", std::string("epochs = 1\n\x01\x02\xff\x00zz", 15));
    const Outcome b = run("train --config " + bin + " --out " + (dir / "x").string(), dir);
    expect_error(b, {"--config", "not a text file", "0x01"});
    BOOST_TEST(b.err.find('\x02') == std::string::npos);
    fs::remove_all(dir);
}

// Users hash artefacts: the same run gives the same model.ckpt bytes, twice and at 1 and 2 threads.
BOOST_AUTO_TEST_CASE(the_same_training_run_gives_byte_identical_checkpoints_at_one_and_two_threads) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("bytes");
    const std::string args = "train --data clusters:K=4,d=6,n=300 --model moe --experts 3 --top-k 1 --width 8 --hidden 8 "
                             "--batch-size 50 --epochs 2 --seed 4 ";
    for (const std::string name : {"t1a", "t1b", "t2"}) {
        const Outcome o = run(args + "--threads " + (name == "t2" ? "2" : "1") + " --out " + (dir / name).string(), dir);
        BOOST_REQUIRE_MESSAGE(o.code == 0, o.err);
    }
    const std::string a = moelab::read_file((dir / "t1a" / "model.ckpt").string());
    BOOST_TEST(a == moelab::read_file((dir / "t1b" / "model.ckpt").string()));
    BOOST_TEST(a == moelab::read_file((dir / "t2" / "model.ckpt").string()));
    BOOST_TEST(a.find("seconds") == std::string::npos);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_truncated_sweep_result_is_named_in_the_error) {
    if (!binary()) return;
    const fs::path dir = fresh_dir("sweep_result");
    const std::string grid = (dir / "grid.json").string(), out = (dir / "out").string();
    moelab::write_file_atomic(grid, R"({"data": "clusters:K=4,d=6,n=200",
        "base": {"kind": "mlp", "width": 8, "hidden": 8, "epochs": 1, "batch_size": 50},
        "vary": {"lb_weight": [0.0]}, "seeds": [1], "stages": ["train"]})");
    const std::string cmd = "sweep --threads 1 --grid " + grid + " --out " + out;
    const Outcome first = run(cmd, dir);
    BOOST_REQUIRE_MESSAGE(first.code == 0, first.err);
    std::string result;
    for (const auto& e : fs::recursive_directory_iterator(dir / "out"))
        if (e.path().filename() == "result.json") result = e.path().string();
    BOOST_REQUIRE(!result.empty());
    const std::string text = moelab::read_file(result);
    moelab::write_file_atomic(result, text.substr(0, text.size() / 2));
    const Outcome o = run(cmd, dir);   // stderr also lists the runs found finished; the error is its last line
    BOOST_TEST(o.code != 0);
    const std::string last = o.err.substr(o.err.rfind("moelab: error:"));
    BOOST_TEST(cli_run::count_lines(last) == 1);
    BOOST_TEST(last.find(result + ": not valid JSON") != std::string::npos, last);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
