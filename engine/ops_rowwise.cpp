// Row-wise ops over the last axis: softmax, log_softmax, cross-entropy.
#include <cmath>
#include <stdexcept>

#include "engine/ops.hpp"
#include "engine/parallel.hpp"

namespace moelab {

namespace {
// out[r,:] = softmax(a[r,:]) computed with the row maximum subtracted (no overflow).
void softmax_rows(const double* a, double* out, std::int64_t rows, std::int64_t cols) {
    parallel_for(rows, row_grain(cols), [&](std::int64_t r) {
        const double* x = a + r * cols;
        double* y = out + r * cols;
        double m = x[0];
        for (std::int64_t c = 1; c < cols; ++c) m = x[c] > m ? x[c] : m;
        double s = 0.0;
        for (std::int64_t c = 0; c < cols; ++c) s += (y[c] = std::exp(x[c] - m));
        const double inv = 1.0 / s;
        for (std::int64_t c = 0; c < cols; ++c) y[c] *= inv;
    });
}
}  // namespace

// y = softmax(x).  dx = y * (dy - <dy, y>) per row.
Var softmax(const Var& a) {
    const std::int64_t rows = a.value().rows(), cols = a.value().cols();
    Tensor out(a.shape());
    softmax_rows(a.value().data(), out.data(), rows, cols);
    return make_result(std::move(out), "softmax", {a}, [rows, cols](Node& self) {
        const double* y = self.value.data();
        const double* g = self.grad.data();
        double* gx = self.parents[0]->grad_buffer().data();
        parallel_for(rows, row_grain(cols), [&](std::int64_t r) {
            const std::int64_t o = r * cols;
            double dot = 0.0;
            for (std::int64_t c = 0; c < cols; ++c) dot += g[o + c] * y[o + c];
            for (std::int64_t c = 0; c < cols; ++c) gx[o + c] += y[o + c] * (g[o + c] - dot);
        });
    });
}

// y = x - logsumexp(x).  dx = dy - softmax(x) * sum(dy) per row.
Var log_softmax(const Var& a) {
    const std::int64_t rows = a.value().rows(), cols = a.value().cols();
    Tensor out(a.shape());
    const double* x = a.value().data();
    double* y = out.data();
    parallel_for(rows, row_grain(cols), [&](std::int64_t r) {
        const std::int64_t o = r * cols;
        double m = x[o];
        for (std::int64_t c = 1; c < cols; ++c) m = x[o + c] > m ? x[o + c] : m;
        double s = 0.0;
        for (std::int64_t c = 0; c < cols; ++c) s += std::exp(x[o + c] - m);
        const double lse = m + std::log(s);
        for (std::int64_t c = 0; c < cols; ++c) y[o + c] = x[o + c] - lse;
    });
    return make_result(std::move(out), "log_softmax", {a}, [rows, cols](Node& self) {
        const double* ly = self.value.data();
        const double* g = self.grad.data();
        double* gx = self.parents[0]->grad_buffer().data();
        parallel_for(rows, row_grain(cols), [&](std::int64_t r) {
            const std::int64_t o = r * cols;
            double gs = 0.0;
            for (std::int64_t c = 0; c < cols; ++c) gs += g[o + c];
            for (std::int64_t c = 0; c < cols; ++c) gx[o + c] += g[o + c] - std::exp(ly[o + c]) * gs;
        });
    });
}

// loss = (1/B) sum_r (logsumexp(z_r) - z_r[y_r]).  dz_r = (softmax(z_r) - onehot(y_r)) / B.
Var cross_entropy(const Var& logits, const std::vector<int>& labels) {
    const Shape& s = logits.shape();
    if (s.rank() != 2) throw ShapeError("cross_entropy: logits must be 2-D [B, C], got " + s.str());
    const std::int64_t rows = s[0], cols = s[1];
    if (static_cast<std::int64_t>(labels.size()) != rows)
        throw ShapeError("cross_entropy: " + std::to_string(labels.size()) + " labels for logits " + s.str());
    for (std::size_t r = 0; r < labels.size(); ++r)
        if (labels[r] < 0 || labels[r] >= cols)
            throw std::out_of_range("cross_entropy: label " + std::to_string(labels[r]) + " of row " +
                                    std::to_string(r) + " is outside [0, " + std::to_string(cols) + ")");
    Tensor probs(s);
    softmax_rows(logits.value().data(), probs.data(), rows, cols);
    std::vector<double> row_loss(static_cast<std::size_t>(rows));
    const double* z = logits.value().data();
    parallel_for(rows, row_grain(cols), [&](std::int64_t r) {
        const std::int64_t o = r * cols;
        double m = z[o];
        for (std::int64_t c = 1; c < cols; ++c) m = z[o + c] > m ? z[o + c] : m;
        double t = 0.0;
        for (std::int64_t c = 0; c < cols; ++c) t += std::exp(z[o + c] - m);
        row_loss[static_cast<std::size_t>(r)] = m + std::log(t) - z[o + labels[static_cast<std::size_t>(r)]];
    });
    double total = 0.0;   // summed in row order on one thread: deterministic
    for (double l : row_loss) total += l;
    const double inv_rows = rows > 0 ? 1.0 / static_cast<double>(rows) : 0.0;
    return make_result(Tensor::scalar(total * inv_rows), "cross_entropy", {logits},
                       [probs = std::move(probs), labels, rows, cols, inv_rows](Node& self) {
                           const double g = self.grad[0] * inv_rows;
                           const double* p = probs.data();
                           double* gz = self.parents[0]->grad_buffer().data();
                           parallel_for(rows, row_grain(cols), [&](std::int64_t r) {
                               const std::int64_t o = r * cols;
                               for (std::int64_t c = 0; c < cols; ++c) gz[o + c] += g * p[o + c];
                               gz[o + labels[static_cast<std::size_t>(r)]] -= g;
                           });
                       });
}

}  // namespace moelab
