// moelab engine: NumPy .npz export and import of named float64 tensors.
//
// write_npz writes a ZIP archive of stored (uncompressed) entries "<name>.npy", each in NPY format 1.0
// ('<f8', C order), which numpy.load reads; timestamps are fixed, so the same tensors give the same
// bytes. read_npz reads such archives back, and also numpy.savez's own output (its ZIP64 size fields
// included); compressed entries, other dtypes and Fortran order are refused with an error naming the
// file and the entry.
#pragma once

#include <string>
#include <vector>

#include "engine/checkpoint.hpp"

namespace moelab {

void write_npz(const std::string& path, const std::vector<NamedTensor>& tensors);
std::vector<NamedTensor> read_npz(const std::string& path);

}  // namespace moelab
