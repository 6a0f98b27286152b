// moelab engine: every differentiable op, in one list.
//
// Each op takes Vars, returns a new Var, and (when gradients are recorded, see autograd.hpp)
// attaches its backward closure. Forward and backward of an op sit side by side in ops_*.cpp, and
// tests/test_gradcheck.cpp checks every one against central finite differences.
//
// Broadcasting is deliberately small. Binary ops accept b of the same shape as a, a scalar
// (one element), or a row of a.cols() elements ([N] or [1, N]) added to every row of a.
// Anything else throws ShapeError naming the op and both shapes.
//
// Determinism: elementwise ops are split over elements, row ops over rows, reductions over the
// kept elements; every sum runs in index order within one thread, so results never depend on the
// thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/autograd.hpp"
#include "engine/rng.hpp"

namespace moelab {

// ---- linear algebra --------------------------------------------------------------------------
Var matmul(const Var& a, const Var& b);                  // [M,K] x [K,N] -> [M,N]
// y = x w^T + b, x [B,in], w [out,in] (PyTorch's layout), b [out] or undefined Var for no bias.
Var linear(const Var& x, const Var& w, const Var& b);
// relu(linear(x, w, b)) as one op: bias, product and ReLU write one buffer, and backward masks the
// gradient once (no pre-activation tensor, no ReLU pass of its own). Same bits as the two ops.
Var linear_relu(const Var& x, const Var& w, const Var& b);

// ---- elementwise binary, with row/scalar broadcast of b ----------------------------------------
Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);

// out[r, :] = a[r, :] * s[r]: a [R, C], s [R] (or [R, 1]). Used to weight expert outputs by gates.
Var scale_rows(const Var& a, const Var& s);

// ---- scalar ops --------------------------------------------------------------------------------
Var add_scalar(const Var& a, double s);
Var mul_scalar(const Var& a, double s);
Var pow_scalar(const Var& a, double p);                   // a^p, for a > 0 unless p is an integer

// ---- elementwise unary -------------------------------------------------------------------------
Var relu(const Var& a);                                   // gradient 0 at 0
Var tanh(const Var& a);
Var sigmoid(const Var& a);
Var softplus(const Var& a);                               // log(1 + e^a), computed stably
Var exp(const Var& a);
Var log(const Var& a);
Var abs(const Var& a);                                    // gradient 0 at 0
Var clamp(const Var& a, double lo, double hi);            // gradient 1 on [lo, hi], 0 outside

// ---- row-wise (over the last axis) -------------------------------------------------------------
Var softmax(const Var& a);
Var log_softmax(const Var& a);
// Mean over rows of -log softmax(logits)[label]. logits [B,C]; labels B values in [0, C).
Var cross_entropy(const Var& logits, const std::vector<int>& labels);

// ---- reductions --------------------------------------------------------------------------------
Var sum(const Var& a, int axis, bool keepdim = false);
Var mean(const Var& a, int axis, bool keepdim = false);
Var max(const Var& a, int axis, bool keepdim = false);    // gradient to the first maximum
Var sum_all(const Var& a);                                // scalar
Var mean_all(const Var& a);                               // scalar

// ---- indexing ----------------------------------------------------------------------------------
// Rows (first-axis slices) of a at `index`: [N, ...] -> [index.size(), ...].
Var index_select(const Var& a, const std::vector<std::int64_t>& index);
// base with src's rows added at rows `index` (repeats accumulate, in order): base [N, ...],
// src [index.size(), ...] -> [N, ...].
Var index_add(const Var& base, const std::vector<std::int64_t>& index, const Var& src);
// The weighted sum of row blocks scattered into a zero [rows, C] output (the combine step of an MoE layer):
//   out[index[p][j], :] += weights[weight_index[p][j]] * parts[p][j, :]   for p = 0, 1, ... in order,
// so each output row gets its contributions in part order, whatever the thread count. parts[p] is
// [index[p].size(), C]; weights is read flat (any shape). Gradients reach the parts and the weights.
Var weighted_index_add(std::int64_t rows, const std::vector<Var>& parts,
                       const std::vector<std::vector<std::int64_t>>& index, const Var& weights,
                       const std::vector<std::vector<std::int64_t>>& weight_index);
// out[r, j] = a[r, index[r*k + j]]: a [R,C], index R*k column numbers -> [R,k].
Var gather_cols(const Var& a, const std::vector<std::int64_t>& index, std::int64_t k);

// ---- shape -------------------------------------------------------------------------------------
Var concat(const std::vector<Var>& parts, int axis);
Var reshape(const Var& a, Shape shape);
Var transpose(const Var& a, int axis0 = -2, int axis1 = -1);

// ---- regularisation ----------------------------------------------------------------------------
// Inverted dropout: keeps element i when rng.uniform(i) >= p and scales it by 1/(1-p). The mask is a
// pure function of (rng, i): pass a stream split per layer and per step. Identity when !training
// or p == 0. Throws std::invalid_argument unless 0 <= p < 1.
Var dropout(const Var& a, double p, const Rng& rng, bool training);

// ---- not differentiable ------------------------------------------------------------------------
// Indices of the k largest entries of each row of a [R,C], largest first; ties go to the lower
// column index. Returns R*k column numbers. Throws on NaN or k outside [1, C].
std::vector<std::int64_t> topk(const Tensor& a, std::int64_t k);
// Per-row argmax (first maximum).
std::vector<std::int64_t> argmax_rows(const Tensor& a);

}  // namespace moelab
