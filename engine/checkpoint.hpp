// moelab engine: the checkpoint format, named tensors with a checksum.
//
// Layout, little-endian:
//   8 bytes   magic "MOELABCK"
//   u32       format version (1)
//   u32 + n   metadata: length, then UTF-8 bytes (JSON chosen by the caller)
//   u32       tensor count
//   per tensor: u32 name length, name bytes, u32 rank (0..4), u64 dims[rank], f64 data[prod(dims)]
//   u32       CRC-32 (zlib) of every byte before it
// Written atomically (atomic_file.hpp). Reading verifies length, magic, version and checksum before
// parsing, and every error names the file: truncated, not a moelab checkpoint, unsupported version,
// checksum mismatch, bad rank, duplicate names.
#pragma once

#include <string>
#include <vector>

#include "engine/params.hpp"

namespace moelab {

struct NamedTensor {
    std::string name;
    Tensor tensor;
};

struct Checkpoint {
    std::string meta;
    std::vector<NamedTensor> tensors;
    // The tensor called `name`; throws std::out_of_range "checkpoint has no tensor 'name'".
    const Tensor& get(const std::string& name) const;
};

inline constexpr std::uint32_t kCheckpointVersion = 1;

void write_checkpoint(const std::string& path, const Checkpoint& checkpoint);
Checkpoint read_checkpoint(const std::string& path);

// Copies every parameter's value, in registry order.
std::vector<NamedTensor> collect(const ParamRegistry& params);
// Loads tensors into parameters by name, strictly: every checkpoint tensor must be a parameter
// ("<path>: unknown tensor 'x' (not a parameter of this model)"), every parameter must be present
// ("<path>: missing tensor 'x'") with the same shape ("<path>: tensor 'x' has shape [a], model
// expects [b]"). Everything is checked before anything is written: a failed load changes nothing.
void load_params(const Checkpoint& checkpoint, ParamRegistry& params, const std::string& path);

}  // namespace moelab
