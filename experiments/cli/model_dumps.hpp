// What eval dumps for comparison with an outside implementation (python/moelab_torch.py or any other): the
// logits and the input gradients of a model on a data set, as .npy arrays in test-sample order.
#pragma once

#include <cstdint>

#include "engine/dataset.hpp"
#include "moe/model.hpp"

namespace moelab::cli {

// Rows go through the model in batches of `batch` (with a capacity factor, which rows share a batch decides
// which slots are dropped; eval uses 500), with top-k `k_override` (0: as trained).
inline constexpr std::int64_t kDumpBatch = 500;

// [N, classes]: the logits of every sample.
Tensor dump_logits(const Classifier& model, const Dataset& data, std::int64_t k_override);
// [N, input_dim]: row i is the gradient, with respect to input i, of sample i's own cross-entropy loss
// -log softmax(z_i)[y_i] at its label (the routing choices are piecewise constant: no gradient through them).
Tensor dump_input_gradients(const Classifier& model, const Dataset& data, std::int64_t k_override);

}  // namespace moelab::cli
