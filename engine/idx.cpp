#include "engine/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace moelab {

namespace {

struct GzCloser {
    void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw std::runtime_error(path + ": " + what); }

GzFile open_gz(const std::string& path) {
    GzFile f(gzopen(path.c_str(), "rb"));
    if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno ? errno : ENOENT));
    return f;
}

// Reads up to n bytes into dst; fewer only where the data ends. Throws on gzip errors.
std::size_t read_some(gzFile_s* f, const std::string& path, unsigned char* dst, std::size_t n, const char* what) {
    std::size_t got = 0;
    while (got < n) {
        const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 30));
        const int r = gzread(f, dst + got, chunk);
        if (r < 0) {
            int err = 0;
            const char* msg = gzerror(f, &err);
            fail(path, std::string("corrupt gzip data while reading ") + what + " (" + (msg ? msg : "?") + ")");
        }
        if (r == 0) break;
        got += static_cast<std::size_t>(r);
    }
    return got;
}

// Explains why only `got` of `n` bytes came: gzip corruption, or the file ended early.
[[noreturn]] void fail_short(gzFile_s* f, const std::string& path, std::size_t n, std::size_t got, const char* what) {
    int err = 0;
    const char* msg = gzerror(f, &err);
    if (err != Z_OK && err != Z_BUF_ERROR) fail(path, std::string("corrupt gzip data (") + msg + ")");
    fail(path, std::string("truncated: expected ") + std::to_string(n) + " bytes of " + what + ", got " +
                   std::to_string(got));
}

// Reads exactly n bytes or explains why not.
void read_exact(gzFile_s* f, const std::string& path, unsigned char* dst, std::size_t n, const char* what) {
    const std::size_t got = read_some(f, path, dst, n, what);
    if (got < n) fail_short(f, path, n, got, what);
}

// The n-byte payload. The buffer doubles as data arrives rather than being sized from the header up
// front, so a short file whose header claims 2 GiB is refused as truncated without allocating them
// (found by tests/fuzz/fuzz_idx).
std::vector<unsigned char> read_payload(gzFile_s* f, const std::string& path, std::size_t n, const char* what) {
    std::vector<unsigned char> bytes;
    std::size_t got = 0;
    while (got < n) {
        bytes.resize(std::min(n, std::max<std::size_t>(2 * got, 1u << 20)));
        const std::size_t want = bytes.size() - got;
        const std::size_t r = read_some(f, path, bytes.data() + got, want, what);
        got += r;
        if (r < want) fail_short(f, path, n, got, what);
    }
    return bytes;
}

std::uint32_t read_be32(gzFile_s* f, const std::string& path, const char* what) {
    unsigned char b[4];
    read_exact(f, path, b, 4, what);
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

void require_end(gzFile_s* f, const std::string& path) {
    unsigned char extra;
    const int r = gzread(f, &extra, 1);
    if (r < 0) fail(path, "corrupt gzip data after the payload");
    if (r > 0) fail(path, "unexpected trailing bytes after the payload");
    int err = 0;
    gzerror(f, &err);
    if (err != Z_OK) fail(path, "corrupt gzip stream (bad trailer or checksum)");
}

std::string hex(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

}  // namespace

Tensor read_idx_images(const std::string& path, std::int64_t* rows_out, std::int64_t* cols_out) {
    GzFile f = open_gz(path);
    const std::uint32_t magic = read_be32(f.get(), path, "the header");
    if (magic != 0x00000803u)
        fail(path, "wrong magic " + hex(magic) + ", expected " + hex(0x00000803u) + " (IDX u8 images)");
    const std::uint32_t n = read_be32(f.get(), path, "the header");
    const std::uint32_t rows = read_be32(f.get(), path, "the header");
    const std::uint32_t cols = read_be32(f.get(), path, "the header");
    const std::uint64_t total = std::uint64_t{n} * rows * cols;
    if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || total > (std::uint64_t{1} << 31))
        fail(path, "implausible image dimensions " + std::to_string(n) + " x " + std::to_string(rows) + " x " +
                       std::to_string(cols));
    const std::vector<unsigned char> bytes = read_payload(f.get(), path, static_cast<std::size_t>(total), "pixel data");
    require_end(f.get(), path);
    Tensor x(Shape{static_cast<std::int64_t>(n), static_cast<std::int64_t>(rows) * cols});
    for (std::size_t i = 0; i < bytes.size(); ++i) x[static_cast<std::int64_t>(i)] = bytes[i] / 255.0;
    if (rows_out) *rows_out = rows;
    if (cols_out) *cols_out = cols;
    return x;
}

std::vector<int> read_idx_labels(const std::string& path) {
    GzFile f = open_gz(path);
    const std::uint32_t magic = read_be32(f.get(), path, "the header");
    if (magic != 0x00000801u)
        fail(path, "wrong magic " + hex(magic) + ", expected " + hex(0x00000801u) + " (IDX u8 labels)");
    const std::uint32_t n = read_be32(f.get(), path, "the header");
    if (n > (1u << 31)) fail(path, "implausible label count " + std::to_string(n));
    const std::vector<unsigned char> bytes = read_payload(f.get(), path, n, "labels");
    require_end(f.get(), path);
    return std::vector<int>(bytes.begin(), bytes.end());
}

Dataset load_fashion_mnist(const std::string& dir, bool train, std::int64_t limit) {
    const std::string prefix = dir + (train ? "/train" : "/t10k");
    const std::string images = prefix + "-images-idx3-ubyte.gz", labels = prefix + "-labels-idx1-ubyte.gz";
    std::int64_t rows = 0, cols = 0;
    Dataset d;
    d.name = train ? "fashion-mnist-train" : "fashion-mnist-test";
    d.num_classes = 10;
    d.x = read_idx_images(images, &rows, &cols);
    d.y = read_idx_labels(labels);
    if (rows != 28 || cols != 28)
        fail(images, "images are " + std::to_string(rows) + "x" + std::to_string(cols) + ", expected 28x28");
    if (d.x.rows() != d.size())
        fail(labels, std::to_string(d.size()) + " labels for " + std::to_string(d.x.rows()) + " images in " + images);
    for (std::size_t i = 0; i < d.y.size(); ++i)
        if (d.y[i] < 0 || d.y[i] >= 10) fail(labels, "label " + std::to_string(d.y[i]) + " at " + std::to_string(i) + " is outside [0, 10)");
    if (limit >= 0 && limit < d.size()) d = subset(d, 0, limit);
    return d;
}

}  // namespace moelab
