// Indexing ops: row gather (index_select), row scatter-add (index_add), per-row column gather,
// and the non-differentiable top-k and argmax.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "engine/ops.hpp"
#include "engine/parallel.hpp"

namespace moelab {

namespace {

// Size of one first-axis slice ("row") of a tensor of shape s, and the number of rows.
std::int64_t row_size(const Shape& s) { return s.rank() == 0 ? 1 : s.numel() / std::max<std::int64_t>(s[0], 1); }

void check_index(const std::vector<std::int64_t>& index, std::int64_t rows, const char* op) {
    for (std::size_t j = 0; j < index.size(); ++j)
        if (index[j] < 0 || index[j] >= rows)
            throw std::out_of_range(std::string(op) + ": index " + std::to_string(index[j]) + " at position " +
                                    std::to_string(j) + " is outside [0, " + std::to_string(rows) + ")");
}

// dst[index[j]] += src[j] for every j, in j order. Split over columns so each element's additions
// keep that order whatever the thread count.
void scatter_add_rows(double* dst, const double* src, const std::vector<std::int64_t>& index, std::int64_t width) {
    const std::int64_t m = static_cast<std::int64_t>(index.size());
    constexpr std::int64_t kCols = 256;
    const std::int64_t col_blocks = (width + kCols - 1) / kCols;
    parallel_for(col_blocks, (m * width >= kElementGrain) ? 2 : col_blocks + 1, [&](std::int64_t cb) {
        const std::int64_t c0 = cb * kCols, c1 = std::min(width, c0 + kCols);
        for (std::int64_t j = 0; j < m; ++j) {
            double* d = dst + index[static_cast<std::size_t>(j)] * width;
            const double* s = src + j * width;
            for (std::int64_t c = c0; c < c1; ++c) d[c] += s[c];
        }
    });
}

}  // namespace

Var index_select(const Var& a, const std::vector<std::int64_t>& index) {
    const Shape& s = a.shape();
    if (s.rank() == 0) throw ShapeError("index_select: cannot select rows of a scalar");
    check_index(index, s[0], "index_select");
    const std::int64_t width = row_size(s), m = static_cast<std::int64_t>(index.size());
    std::vector<std::int64_t> dims = s.dims();
    dims[0] = m;
    // The rows are appended to a reserved vector: one pass, where a zero-filled Tensor and a copy over it
    // were two (the gathers of an MoE layer move every routed row).
    const double* ad = a.value().data();
    std::vector<double> rows;
    rows.reserve(static_cast<std::size_t>(m * width));
    for (std::int64_t r : index) rows.insert(rows.end(), ad + r * width, ad + (r + 1) * width);
    Tensor out(Shape(dims), std::move(rows));
    return make_result(std::move(out), "index_select", {a}, [index, width](Node& self) {
        scatter_add_rows(self.parents[0]->grad_buffer().data(), self.grad.data(), index, width);
    });
}

Var index_add(const Var& base, const std::vector<std::int64_t>& index, const Var& src) {
    const Shape& bs = base.shape();
    const Shape& ss = src.shape();
    if (bs.rank() == 0) throw ShapeError("index_add: base must have rows, got a scalar");
    check_index(index, bs[0], "index_add");
    const std::int64_t width = row_size(bs);
    std::vector<std::int64_t> want = bs.dims();
    want[0] = static_cast<std::int64_t>(index.size());
    if (ss != Shape(want))
        throw ShapeError("index_add: source " + ss.str() + " does not match base " + bs.str() + " with " +
                         std::to_string(index.size()) + " indices (expected " + Shape(want).str() + ")");
    Tensor out = base.value();
    scatter_add_rows(out.data(), src.value().data(), index, width);
    return make_result(std::move(out), "index_add", {base, src}, [index, width](Node& self) {
        if (self.parents[0]->requires_grad) self.parents[0]->accumulate(self.grad);
        Node& S = *self.parents[1];
        if (S.requires_grad) {
            double* gs = S.grad_buffer().data();
            const double* g = self.grad.data();
            parallel_for(static_cast<std::int64_t>(index.size()), row_grain(width), [&](std::int64_t j) {
                const double* row = g + index[static_cast<std::size_t>(j)] * width;
                for (std::int64_t c = 0; c < width; ++c) gs[j * width + c] += row[c];
            });
        }
    });
}

Var weighted_index_add(std::int64_t rows, const std::vector<Var>& parts,
                       const std::vector<std::vector<std::int64_t>>& index, const Var& weights,
                       const std::vector<std::vector<std::int64_t>>& weight_index) {
    if (parts.empty()) throw ShapeError("weighted_index_add: no parts");
    if (index.size() != parts.size() || weight_index.size() != parts.size())
        throw ShapeError("weighted_index_add: " + std::to_string(parts.size()) + " parts, " +
                         std::to_string(index.size()) + " index lists and " + std::to_string(weight_index.size()) +
                         " weight index lists");
    const std::int64_t width = parts[0].value().cols();
    for (std::size_t p = 0; p < parts.size(); ++p) {
        const Shape& s = parts[p].shape();
        const auto m = static_cast<std::int64_t>(index[p].size());
        if (s.rank() != 2 || s[0] != m || s[1] != width || weight_index[p].size() != index[p].size())
            throw ShapeError("weighted_index_add: part " + std::to_string(p) + " of shape " + s.str() + " with " +
                             std::to_string(m) + " indices and " + std::to_string(weight_index[p].size()) +
                             " weight indices (expected [" + std::to_string(m) + ", " + std::to_string(width) + "])");
        check_index(index[p], rows, "weighted_index_add");
        check_index(weight_index[p], weights.value().numel(), "weighted_index_add (weights)");
    }
    // Each output row's contributions (part, position) in part order: the forward runs over output rows,
    // so rows go to threads and every row sums in the same order on any thread count.
    std::vector<std::int64_t> start(static_cast<std::size_t>(rows) + 1, 0);
    for (const auto& idx : index)
        for (std::int64_t r : idx) ++start[static_cast<std::size_t>(r) + 1];
    for (std::size_t r = 0; r < static_cast<std::size_t>(rows); ++r) start[r + 1] += start[r];
    std::vector<std::pair<std::int64_t, std::int64_t>> by_row(static_cast<std::size_t>(start.back()));
    {
        std::vector<std::int64_t> fill(start.begin(), start.end() - 1);
        for (std::size_t p = 0; p < index.size(); ++p)
            for (std::size_t j = 0; j < index[p].size(); ++j)
                by_row[static_cast<std::size_t>(fill[static_cast<std::size_t>(index[p][j])]++)] = {
                    static_cast<std::int64_t>(p), static_cast<std::int64_t>(j)};
    }
    Tensor out(Shape{rows, width});
    const double* w = weights.value().data();
    double* od = out.data();
    parallel_for(rows, row_grain(width), [&](std::int64_t r) {
        double* o = od + r * width;
        for (std::int64_t q = start[static_cast<std::size_t>(r)]; q < start[static_cast<std::size_t>(r) + 1]; ++q) {
            const auto [p, j] = by_row[static_cast<std::size_t>(q)];
            const double* src = parts[static_cast<std::size_t>(p)].value().data() + j * width;
            const double g = w[weight_index[static_cast<std::size_t>(p)][static_cast<std::size_t>(j)]];
            for (std::int64_t c = 0; c < width; ++c) o[c] += src[c] * g;
        }
    });
    std::vector<Var> inputs = parts;
    inputs.push_back(weights);
    // d parts[p][j, c] = w[wi] * dout[index, c];  d w[wi] = sum_c dout[index, c] * parts[p][j, c].
    return make_result(std::move(out), "weighted_index_add", std::move(inputs), [index, weight_index, width](Node& self) {
        const std::size_t P = index.size();
        Node& Wt = *self.parents[P];
        const double* g = self.grad.data();
        const double* wv = Wt.value.data();
        double* gw = Wt.requires_grad ? Wt.grad_buffer().data() : nullptr;
        for (std::size_t p = 0; p < P; ++p) {
            Node& part = *self.parents[p];
            const auto& idx = index[p];
            const auto& wi = weight_index[p];
            const auto m = static_cast<std::int64_t>(idx.size());
            if (part.requires_grad) {
                double* gp = part.grad_buffer().data();
                parallel_for(m, row_grain(width), [&](std::int64_t j) {
                    const double* row = g + idx[static_cast<std::size_t>(j)] * width;
                    const double s = wv[wi[static_cast<std::size_t>(j)]];
                    for (std::int64_t c = 0; c < width; ++c) gp[j * width + c] += row[c] * s;
                });
            }
            if (gw) {
                // Serial over j: two positions may share a weight, and their additions keep j order.
                const double* pv = part.value.data();
                for (std::int64_t j = 0; j < m; ++j) {
                    const double* row = g + idx[static_cast<std::size_t>(j)] * width;
                    double t = 0.0;
                    for (std::int64_t c = 0; c < width; ++c) t += row[c] * pv[j * width + c];
                    gw[wi[static_cast<std::size_t>(j)]] += t;
                }
            }
        }
    });
}

Var gather_cols(const Var& a, const std::vector<std::int64_t>& index, std::int64_t k) {
    const Shape& s = a.shape();
    if (s.rank() != 2) throw ShapeError("gather_cols: input must be 2-D, got " + s.str());
    const std::int64_t rows = s[0], cols = s[1];
    if (k < 0 || static_cast<std::int64_t>(index.size()) != rows * k)
        throw ShapeError("gather_cols: " + std::to_string(index.size()) + " indices for " + std::to_string(rows) +
                         " rows of " + std::to_string(k));
    check_index(index, cols, "gather_cols");
    Tensor out(Shape{rows, k});
    const double* ad = a.value().data();
    for (std::int64_t i = 0; i < rows * k; ++i) out[i] = ad[(i / k) * cols + index[static_cast<std::size_t>(i)]];
    return make_result(std::move(out), "gather_cols", {a}, [index, k, cols](Node& self) {
        double* ga = self.parents[0]->grad_buffer().data();
        for (std::int64_t i = 0; i < self.grad.numel(); ++i)
            ga[(i / k) * cols + index[static_cast<std::size_t>(i)]] += self.grad[i];
    });
}

std::vector<std::int64_t> topk(const Tensor& a, std::int64_t k) {
    const std::int64_t rows = a.rows(), cols = a.cols();
    if (k < 1 || k > cols)
        throw std::invalid_argument("topk: k = " + std::to_string(k) + " is outside [1, " + std::to_string(cols) + "]");
    std::vector<std::int64_t> out(static_cast<std::size_t>(rows * k));
    for (std::int64_t i = 0; i < a.numel(); ++i)
        if (std::isnan(a[i]))
            throw std::domain_error("topk: NaN at row " + std::to_string(i / cols) + ", column " +
                                    std::to_string(i % cols));
    parallel_for(rows, row_grain(cols), [&](std::int64_t r) {
        const double* x = a.data() + r * cols;
        std::vector<std::int64_t> idx(static_cast<std::size_t>(cols));
        std::iota(idx.begin(), idx.end(), 0);
        // Larger value first; on equal values the lower column first (the documented tie rule).
        std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [x](std::int64_t p, std::int64_t q) {
            return x[p] > x[q] || (x[p] == x[q] && p < q);
        });
        std::copy_n(idx.begin(), k, out.begin() + r * k);
    });
    return out;
}

std::vector<std::int64_t> argmax_rows(const Tensor& a) {
    const std::int64_t rows = a.rows(), cols = a.cols();
    std::vector<std::int64_t> out(static_cast<std::size_t>(rows));
    for (std::int64_t r = 0; r < rows; ++r) {
        std::int64_t best = 0;
        for (std::int64_t c = 1; c < cols; ++c)
            if (a[r * cols + c] > a[r * cols + best]) best = c;
        out[static_cast<std::size_t>(r)] = best;
    }
    return out;
}

}  // namespace moelab
