// moelab engine: the IDX format of (Fashion-)MNIST, gzipped or plain.
//
// IDX: a big-endian header (magic 0x00000803 for u8 images [N, rows, cols], 0x00000801 for u8
// labels [N]) followed by the bytes. Files are read through zlib, which also reads uncompressed files.
// Every problem is a std::runtime_error naming the path and what was expected: missing file, gzip
// corruption, wrong magic, absurd dimensions, truncated payload, trailing bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/dataset.hpp"

namespace moelab {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Images [N, rows * cols] as byte / 255.0.
Tensor read_idx_images(const std::string& path, std::int64_t* rows = nullptr, std::int64_t* cols = nullptr);
std::vector<int> read_idx_labels(const std::string& path);

// The train (60 000) or test (10 000) split of Fashion-MNIST from `dir` (Debian's
// dataset-fashion-mnist layout). Checks 28x28 images, labels in [0, 10) and matching counts.
// limit >= 0 keeps the first `limit` samples.
Dataset load_fashion_mnist(const std::string& dir, bool train, std::int64_t limit = -1);

}  // namespace moelab
