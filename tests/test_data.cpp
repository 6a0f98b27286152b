// Fashion-MNIST IDX reading (real files when installed, and every bad-input case on small synthetic
// files), and the synthetic cluster data.
#include <boost/test/unit_test.hpp>

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "engine/atomic_file.hpp"
#include "engine/clusters.hpp"
#include "engine/config_error.hpp"
#include "engine/idx.hpp"
#include "experiments/io/config_keys.hpp"

#include "tests/temp_dir.hpp"

using namespace moelab;
namespace fs = std::filesystem;

namespace {

using moelab::testing::TempDir;

std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string idx_images(std::uint32_t magic, std::uint32_t n, std::uint32_t rows, std::uint32_t cols, std::size_t payload) {
    std::string s = be32(magic) + be32(n) + be32(rows) + be32(cols);
    for (std::size_t i = 0; i < payload; ++i) s += static_cast<char>(i % 256);
    return s;
}

std::string idx_labels(std::uint32_t n, int modulo = 10) {
    std::string s = be32(0x00000801) + be32(n);
    for (std::uint32_t i = 0; i < n; ++i) s += static_cast<char>(i % static_cast<std::uint32_t>(modulo));
    return s;
}

void write_gz(const std::string& path, const std::string& bytes) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
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

}  // namespace

BOOST_AUTO_TEST_SUITE(data)

BOOST_AUTO_TEST_CASE(real_fashion_mnist_test_split_reads_as_documented) {
    if (!fs::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz")) {
        BOOST_TEST_MESSAGE("dataset-fashion-mnist is not installed: skipped");
        return;
    }
    const Dataset d = load_fashion_mnist(kFashionMnistDir, false);
    BOOST_TEST(d.size() == 10000);
    BOOST_TEST(d.dim() == 784);
    BOOST_TEST(d.y[0] == 9);   // the first test image is an ankle boot
    std::vector<int> count(10, 0);
    for (int y : d.y) ++count[static_cast<std::size_t>(y)];
    for (int c : count) BOOST_TEST(c == 1000);
    double lo = 1, hi = 0;
    for (double v : d.x.vec()) lo = std::min(lo, v), hi = std::max(hi, v);
    BOOST_TEST(lo == 0.0);
    BOOST_TEST(hi == 1.0);
    BOOST_TEST(load_fashion_mnist(kFashionMnistDir, false, 25).size() == 25);
}

BOOST_AUTO_TEST_CASE(small_idx_files_read_back_exactly_gzipped_or_plain) {
    TempDir dir("data");
    write_gz(dir / "img.gz", idx_images(0x803, 3, 2, 2, 12));
    const Tensor x = read_idx_images(dir / "img.gz");
    BOOST_TEST(x.shape() == (Shape{3, 4}));
    BOOST_TEST(x[5] == 5.0 / 255.0);
    std::ofstream(dir / "img.raw", std::ios::binary) << idx_images(0x803, 3, 2, 2, 12);
    BOOST_TEST(read_idx_images(dir / "img.raw").bitwise_equal(x));
    write_gz(dir / "lab.gz", idx_labels(7));
    BOOST_TEST(read_idx_labels(dir / "lab.gz") == (std::vector<int>{0, 1, 2, 3, 4, 5, 6}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_idx_files_get_errors_naming_the_file_and_the_problem) {
    TempDir dir("data");
    BOOST_CHECK_EXCEPTION(read_idx_images(dir / "absent.gz"), std::runtime_error,
                          error_with({dir / "absent.gz", "cannot open"}));
    write_gz(dir / "magic.gz", idx_images(0x804, 1, 2, 2, 4));
    BOOST_CHECK_EXCEPTION(read_idx_images(dir / "magic.gz"), std::runtime_error,
                          error_with({dir / "magic.gz", "wrong magic 0x00000804", "0x00000803"}));
    write_gz(dir / "short.gz", idx_images(0x803, 2, 2, 2, 5));
    BOOST_CHECK_EXCEPTION(read_idx_images(dir / "short.gz"), std::runtime_error,
                          error_with({dir / "short.gz", "truncated", "expected 8"}));
    write_gz(dir / "long.gz", idx_images(0x803, 1, 2, 2, 6));
    BOOST_CHECK_EXCEPTION(read_idx_images(dir / "long.gz"), std::runtime_error,
                          error_with({dir / "long.gz", "trailing"}));
    write_gz(dir / "dims.gz", idx_images(0x803, 1, 0, 2, 0));
    BOOST_CHECK_EXCEPTION(read_idx_images(dir / "dims.gz"), std::runtime_error,
                          error_with({dir / "dims.gz", "implausible"}));
    // gzip corruption: flip bytes inside the deflate stream of a valid file.
    write_gz(dir / "ok.gz", idx_images(0x803, 40, 28, 28, 40 * 784));
    std::string bytes = read_file(dir / "ok.gz");
    for (std::size_t i = bytes.size() / 3; i < bytes.size() / 3 + 8; ++i) bytes[i] = static_cast<char>(~bytes[i]);
    std::ofstream(dir / "corrupt.gz", std::ios::binary) << bytes;
    BOOST_CHECK_EXCEPTION(read_idx_images(dir / "corrupt.gz"), std::runtime_error, error_with({dir / "corrupt.gz"}));
    // A gzip file cut short.
    std::ofstream(dir / "cut.gz", std::ios::binary) << read_file(dir / "ok.gz").substr(0, 200);
    BOOST_CHECK_EXCEPTION(read_idx_images(dir / "cut.gz"), std::runtime_error, error_with({dir / "cut.gz"}));
}

BOOST_AUTO_TEST_CASE(a_fashion_mnist_directory_with_mismatched_files_is_refused) {
    TempDir dir("data");
    write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_images(0x803, 3, 28, 28, 3 * 784));
    write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_labels(4));
    BOOST_CHECK_EXCEPTION(load_fashion_mnist(dir.path, false), std::runtime_error,
                          error_with({"t10k-labels-idx1-ubyte.gz", "4 labels for 3 images"}));
    write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_labels(3, 12) + "");
    write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_images(0x803, 3, 14, 56, 3 * 784));
    BOOST_CHECK_EXCEPTION(load_fashion_mnist(dir.path, false), std::runtime_error, error_with({"expected 28x28"}));
}

BOOST_AUTO_TEST_CASE(cluster_data_is_seeded_balanced_and_parsed_strictly) {
    ClusterSpec s = parse_cluster_spec("clusters:K=4,d=6,C=3,n=400,sep=5,noise=0.5,seed=9");
    BOOST_TEST(s.clusters == 4);
    BOOST_TEST(s.dim == 6);
    BOOST_TEST(s.classes == 3);
    BOOST_TEST(s.samples == 400);
    BOOST_TEST(s.separation == 5.0);
    BOOST_TEST(s.noise == 0.5);
    const Dataset a = make_clusters(s), b = make_clusters(s);
    BOOST_TEST(a.x.bitwise_equal(b.x));
    BOOST_TEST(a.y == b.y);
    s.seed = 10;
    BOOST_TEST(!make_clusters(s).x.bitwise_equal(a.x));
    std::vector<int> count(3, 0);
    for (int y : a.y) ++count[static_cast<std::size_t>(y)];
    for (int c : count) BOOST_TEST(c > 400 / 3 / 2);   // every class well represented
    BOOST_CHECK_EXCEPTION(parse_cluster_spec("clusters:K=4,q=1"), ConfigError, [](const ConfigError& e) {
        return e.key == "data" && cli::user_message(e).rfind("--data clusters: unknown key 'q'", 0) == 0u;
    });
    BOOST_CHECK_EXCEPTION(parse_cluster_spec("clusters:K=four"), std::invalid_argument, error_with({"'K'", "four"}));
    BOOST_CHECK_EXCEPTION(parse_cluster_spec("clusters:C=1"), std::invalid_argument, error_with({"'C'"}));
    BOOST_CHECK_EXCEPTION(parse_cluster_spec("clusters:noise=-1"), std::invalid_argument, error_with({"'noise'"}));
}

BOOST_AUTO_TEST_SUITE_END()
