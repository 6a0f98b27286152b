// moelab engine: finding NaN and infinity in tensors.
//
// A checkpoint, an npz archive or a model built in memory with one non-finite weight would make every
// bound computed from it meaningless (an infinite weight times zero is NaN, and max(0, NaN) is 0), so
// loaders and certificates refuse such tensors with a message naming the tensor, the value and its index.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.hpp"

namespace moelab {

// Index of the first NaN or infinity in t, or -1 when every value is finite.
std::int64_t first_non_finite(const Tensor& t);
// Throws std::invalid_argument "<where>: tensor '<name>' holds a non-finite value, <value>, at index <i> (values
// must be finite)".
void require_finite(const Tensor& t, const std::string& name, const std::string& where);
// "nan", "inf" or "-inf" (std::to_string gives "-nan" or platform spellings).
std::string non_finite_name(double v);

}  // namespace moelab
