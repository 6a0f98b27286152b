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
    Tensor out{Shape(dims)};
    const double* ad = a.value().data();
    double* od = out.data();
    parallel_for(m, kRowGrain, [&](std::int64_t j) {
        std::copy_n(ad + index[static_cast<std::size_t>(j)] * width, width, od + j * width);
    });
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
            parallel_for(static_cast<std::int64_t>(index.size()), kRowGrain, [&](std::int64_t j) {
                const double* row = g + index[static_cast<std::size_t>(j)] * width;
                for (std::int64_t c = 0; c < width; ++c) gs[j * width + c] += row[c];
            });
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
    parallel_for(rows, kRowGrain, [&](std::int64_t r) {
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
