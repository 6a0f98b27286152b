// Checkpoints, .npz and atomic files: round trips, every corruption refused with a message naming
// the file, and nothing half-written.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "engine/atomic_file.hpp"
#include "engine/npz.hpp"
#include "tests/gradcheck.hpp"

#include "experiments/io/program_run.hpp"
#include "tests/temp_dir.hpp"

using moelab::cli::run_program;

using namespace moelab;
using moelab::testing::random_tensor;
namespace fs = std::filesystem;

namespace {

using moelab::testing::TempDir;

Checkpoint sample_checkpoint() {
    Checkpoint ck;
    ck.meta = R"({"model": "test"})";
    ck.tensors = {{"scalar", Tensor::scalar(3.5)},
                  {"vec", random_tensor({5}, 1)},
                  {"experts.3.fc1.weight", random_tensor({4, 3}, 2)},
                  {"cube", random_tensor({2, 3, 4}, 3)},
                  {"hyper", random_tensor({2, 1, 2, 3}, 4)}};
    ck.tensors[1].tensor[0] = -0.0;   // signed zero and subnormals survive bit for bit
    ck.tensors[1].tensor[1] = 4.9e-324;
    return ck;
}

bool same(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].name != b[i].name || !a[i].tensor.bitwise_equal(b[i].tensor)) return false;
    return true;
}

auto error_with(std::initializer_list<std::string> parts) {
    return [parts](const std::exception& e) {
        const std::string m = e.what();
        for (const auto& p : parts)
            if (m.find(p) == std::string::npos) {
                BOOST_TEST_MESSAGE("message '" << m << "' lacks '" << p << "'");
                return false;
            }
        return true;
    };
}

void write_raw(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(io)

BOOST_AUTO_TEST_CASE(checkpoint_round_trip_is_bitwise) {
    TempDir dir("io");
    const Checkpoint ck = sample_checkpoint();
    write_checkpoint(dir / "a.ckpt", ck);
    const Checkpoint back = read_checkpoint(dir / "a.ckpt");
    BOOST_TEST(back.meta == ck.meta);
    BOOST_TEST(same(back.tensors, ck.tensors));
    BOOST_TEST(back.get("cube").shape() == (Shape{2, 3, 4}));
}

BOOST_AUTO_TEST_CASE(every_truncation_of_a_checkpoint_is_refused) {
    TempDir dir("io");
    Checkpoint ck;
    ck.meta = "{}";
    ck.tensors = {{"w", random_tensor({2, 2}, 5)}};
    write_checkpoint(dir / "full.ckpt", ck);
    const std::string bytes = read_file(dir / "full.ckpt");
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        write_raw(dir / "cut.ckpt", bytes.substr(0, n));
        BOOST_CHECK_EXCEPTION(read_checkpoint(dir / "cut.ckpt"), std::runtime_error, error_with({dir / "cut.ckpt"}));
    }
}

BOOST_AUTO_TEST_CASE(corrupt_foreign_and_future_checkpoints_are_refused_with_reasons) {
    TempDir dir("io");
    write_checkpoint(dir / "a.ckpt", sample_checkpoint());
    std::string bytes = read_file(dir / "a.ckpt");
    std::string flipped = bytes;
    flipped[bytes.size() / 2] ^= 0x10;
    write_raw(dir / "flip.ckpt", flipped);
    BOOST_CHECK_EXCEPTION(read_checkpoint(dir / "flip.ckpt"), std::runtime_error,
                          error_with({dir / "flip.ckpt", "checksum mismatch"}));
    std::string magic = bytes;
    magic[0] = 'X';
    write_raw(dir / "magic.ckpt", magic);
    BOOST_CHECK_EXCEPTION(read_checkpoint(dir / "magic.ckpt"), std::runtime_error,
                          error_with({dir / "magic.ckpt", "not a moelab checkpoint"}));
    std::string v2 = bytes;
    v2[8] = 2;
    write_raw(dir / "v2.ckpt", v2);
    BOOST_CHECK_EXCEPTION(read_checkpoint(dir / "v2.ckpt"), std::runtime_error,
                          error_with({dir / "v2.ckpt", "version 2", "version 1"}));
    BOOST_CHECK_EXCEPTION(read_checkpoint(dir / "missing.ckpt"), std::runtime_error,
                          error_with({dir / "missing.ckpt", "cannot open"}));
}

BOOST_AUTO_TEST_CASE(loading_into_another_architecture_fails_and_changes_nothing) {
    TempDir dir("io");
    ParamRegistry params;
    params.add("a", random_tensor({2, 2}, 6));
    params.add("b", random_tensor({3}, 7));
    const Tensor a_before = params.get("a").value();
    Checkpoint unknown{"", {{"a", random_tensor({2, 2}, 8)}, {"b", random_tensor({3}, 9)}, {"c", random_tensor({1}, 10)}}};
    BOOST_CHECK_EXCEPTION(load_params(unknown, params, "f.ckpt"), std::runtime_error,
                          error_with({"f.ckpt", "unknown tensor 'c'"}));
    Checkpoint missing{"", {{"a", random_tensor({2, 2}, 8)}}};
    BOOST_CHECK_EXCEPTION(load_params(missing, params, "f.ckpt"), std::runtime_error,
                          error_with({"f.ckpt", "missing tensor 'b'"}));
    Checkpoint shape{"", {{"a", random_tensor({2, 2}, 8)}, {"b", random_tensor({4}, 9)}}};
    BOOST_CHECK_EXCEPTION(load_params(shape, params, "f.ckpt"), std::runtime_error,
                          error_with({"f.ckpt", "'b'", "[4]", "[3]"}));
    BOOST_TEST(params.get("a").value().bitwise_equal(a_before));   // nothing half-loaded
    Checkpoint good{"", {{"b", random_tensor({3}, 11)}, {"a", random_tensor({2, 2}, 12)}}};
    load_params(good, params, "f.ckpt");
    BOOST_TEST(params.get("a").value().bitwise_equal(random_tensor({2, 2}, 12)));
}

BOOST_AUTO_TEST_CASE(atomic_writes_leave_no_temporary_files_and_fail_cleanly) {
    TempDir dir("io");
    write_file_atomic(dir / "f.txt", "one");
    write_file_atomic(dir / "f.txt", "two");
    BOOST_TEST(read_file(dir / "f.txt") == "two");
    BOOST_TEST(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
    BOOST_CHECK_EXCEPTION(write_file_atomic(dir / "no/such/dir/f.txt", "x"), std::runtime_error,
                          error_with({"cannot write", "no/such/dir/f.txt"}));
}

BOOST_AUTO_TEST_CASE(npz_round_trip_is_bitwise_and_bytes_are_reproducible) {
    TempDir dir("io");
    const auto tensors = sample_checkpoint().tensors;
    write_npz(dir / "a.npz", tensors);
    BOOST_TEST(same(read_npz(dir / "a.npz"), tensors));
    write_npz(dir / "b.npz", tensors);
    BOOST_TEST(read_file(dir / "a.npz") == read_file(dir / "b.npz"));
    write_raw(dir / "bad.npz", read_file(dir / "a.npz").substr(0, 200));
    BOOST_CHECK_EXCEPTION(read_npz(dir / "bad.npz"), std::runtime_error, error_with({dir / "bad.npz"}));
}

BOOST_AUTO_TEST_CASE(numpy_reads_our_npz_and_we_read_numpys) {
    if (run_program({"/usr/bin/python3", "-c", "import numpy"}, {.stdout_path = "/dev/null", .stderr_path = "/dev/null"}) != 0) {
        BOOST_TEST_MESSAGE("python3-numpy is not installed: NumPy cross-check skipped");
        return;
    }
    TempDir dir("io");
    const auto tensors = sample_checkpoint().tensors;
    write_npz(dir / "ours.npz", tensors);
    // NumPy loads ours and saves it back with its own writer (ZIP64 fields and all); we read that.
    // The paths reach Python as arguments (sys.argv), never inside the script's text.
    const std::string script = "import sys, numpy as np; d = np.load(sys.argv[1]); "
                               "np.savez(sys.argv[2], **{k: d[k] for k in d.files}); "
                               "print(float(d['cube'][1, 2, 3]).hex(), float(d['vec'][1]).hex(), d['hyper'].shape)";
    BOOST_REQUIRE(run_program({"/usr/bin/python3", "-c", script, dir / "ours.npz", dir / "theirs.npz"},
                              {.stdout_path = dir / "out.txt"}) == 0);
    // Exact elements, compared through their hex form: the last element of 'cube' and a subnormal.
    const std::string printed = read_file(dir / "out.txt");
    BOOST_TEST_MESSAGE("numpy printed " << printed);
    std::istringstream words(printed);
    std::string last, subnormal;
    words >> last >> subnormal;
    BOOST_TEST(std::stod(last) == tensors[3].tensor[23]);
    BOOST_TEST(std::stod(subnormal) == 4.9e-324);
    BOOST_TEST(printed.find("(2, 1, 2, 3)") != std::string::npos);
    auto theirs = read_npz(dir / "theirs.npz");
    std::sort(theirs.begin(), theirs.end(), [](auto& a, auto& b) { return a.name < b.name; });
    auto sorted = tensors;
    std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.name < b.name; });
    BOOST_TEST(same(theirs, sorted));
}

BOOST_AUTO_TEST_SUITE_END()
