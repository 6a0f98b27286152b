// matmul and linear: forward and backward, all through the deterministic gemm().
#include <vector>

#include "engine/blas.hpp"
#include "engine/ops.hpp"
#include "engine/parallel.hpp"

namespace moelab {

namespace {
void require_matrix(const Shape& s, const char* op, const char* what) {
    if (s.rank() != 2) throw ShapeError(std::string(op) + ": " + what + " must be 2-D, got " + s.str());
}
}  // namespace

// C[M,N] = A[M,K] B[K,N].  dA = dC B^T;  dB = A^T dC.
Var matmul(const Var& a, const Var& b) {
    require_matrix(a.shape(), "matmul", "a");
    require_matrix(b.shape(), "matmul", "b");
    const std::int64_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
    if (b.shape()[0] != K)
        throw ShapeError("matmul: shapes " + a.shape().str() + " and " + b.shape().str() + " do not multiply");
    Tensor out(Shape{M, N});
    gemm(false, false, M, N, K, 1.0, a.value().data(), K, b.value().data(), N, 0.0, out.data(), N);
    return make_result(std::move(out), "matmul", {a, b}, [M, N, K](Node& self) {
        Node& A = *self.parents[0];
        Node& B = *self.parents[1];
        const double* g = self.grad.data();
        if (A.requires_grad)
            gemm(false, true, M, K, N, 1.0, g, N, B.value.data(), N, 1.0, A.grad_buffer().data(), K);
        if (B.requires_grad)
            gemm(true, false, K, N, M, 1.0, A.value.data(), K, g, N, 1.0, B.grad_buffer().data(), N);
    });
}

// y[B,out] = x[B,in] w[out,in]^T + b[out].  dx = dy w;  dw = dy^T x;  db = column sums of dy.
Var linear(const Var& x, const Var& w, const Var& b) {
    require_matrix(x.shape(), "linear", "x");
    require_matrix(w.shape(), "linear", "weight");
    const std::int64_t B = x.shape()[0], in = x.shape()[1], out_dim = w.shape()[0];
    if (w.shape()[1] != in)
        throw ShapeError("linear: input " + x.shape().str() + " does not match weight " + w.shape().str());
    const bool has_bias = b.defined();
    if (has_bias && b.value().numel() != out_dim)
        throw ShapeError("linear: bias " + b.shape().str() + " does not match weight " + w.shape().str());
    Tensor y(Shape{B, out_dim});
    double beta = 0.0;
    if (has_bias) {
        const double* bias = b.value().data();
        double* yd = y.data();
        parallel_for(B, kRowGrain * 4, [&](std::int64_t r) {
            for (std::int64_t c = 0; c < out_dim; ++c) yd[r * out_dim + c] = bias[c];
        });
        beta = 1.0;
    }
    gemm(false, true, B, out_dim, in, 1.0, x.value().data(), in, w.value().data(), in, beta, y.data(), out_dim);
    std::vector<Var> inputs{x, w};
    if (has_bias) inputs.push_back(b);
    return make_result(std::move(y), "linear", std::move(inputs), [B, in, out_dim, has_bias](Node& self) {
        Node& X = *self.parents[0];
        Node& W = *self.parents[1];
        const double* g = self.grad.data();
        if (X.requires_grad)
            gemm(false, false, B, in, out_dim, 1.0, g, out_dim, W.value.data(), in, 1.0, X.grad_buffer().data(), in);
        if (W.requires_grad)
            gemm(true, false, out_dim, in, B, 1.0, g, out_dim, X.value.data(), in, 1.0, W.grad_buffer().data(), in);
        if (has_bias && self.parents[2]->requires_grad) {
            double* db = self.parents[2]->grad_buffer().data();
            // Column sums, each in row order (r = 0, 1, ...), accumulated row by row so that the inner
            // loop runs along memory; then added to the gradient. One thread: the work is small.
            std::vector<double> sums(static_cast<std::size_t>(out_dim), 0.0);
            for (std::int64_t r = 0; r < B; ++r)
                for (std::int64_t c = 0; c < out_dim; ++c) sums[static_cast<std::size_t>(c)] += g[r * out_dim + c];
            for (std::int64_t c = 0; c < out_dim; ++c) db[c] += sums[static_cast<std::size_t>(c)];
        }
    });
}

}  // namespace moelab
