// moelab engine: NumPy .npz export and import of named float64 tensors.
//
// write_npz writes a ZIP archive of stored (uncompressed) entries "<name>.npy", each in NPY format 1.0
// ('<f8', C order), which numpy.load reads; timestamps are fixed, so the same tensors give the same
// bytes. read_npz reads such archives back, and also numpy.savez's own output (its ZIP64 size fields
// included); compressed entries, other dtypes and Fortran order are refused with an error naming the
// file and the entry. The archive functions also carry byte and integer arrays ('|u1', '<i8'): the
// model file's JSON entry (moe/model_file.hpp) and exported labels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/checkpoint.hpp"

namespace moelab {

// An array that is not float64: its NPY dtype, shape and raw little-endian bytes.
enum class NpyDtype { uint8, int64 };
struct NpyArray {
    std::string name;
    NpyDtype dtype = NpyDtype::uint8;
    std::vector<std::int64_t> shape;
    std::string bytes;
};
NpyArray npy_uint8(const std::string& name, const std::string& bytes);   // a 1-D uint8 array of these bytes
NpyArray npy_int64(const std::string& name, const std::vector<std::int64_t>& values);

struct NpzArchive {
    std::vector<NamedTensor> tensors;   // the float64 entries, in archive order
    std::vector<NpyArray> others;       // the uint8 and int64 entries, in archive order
};

void write_npz(const std::string& path, const std::vector<NamedTensor>& tensors);
// Float64 entries only: an entry of another dtype is an error naming it.
std::vector<NamedTensor> read_npz(const std::string& path);
// The tensors first, then the other arrays; same fixed-timestamp bytes.
void write_npz(const std::string& path, const std::vector<NamedTensor>& tensors, const std::vector<NpyArray>& others);
NpzArchive read_npz_archive(const std::string& path);
// One array as a standalone .npy file (numpy.load reads it), written atomically.
void write_npy(const std::string& path, const Tensor& tensor);
// A float64 .npy file (NPY 1.0-3.0, C order); errors name the file.
Tensor read_npy(const std::string& path);

}  // namespace moelab
