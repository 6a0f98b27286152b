// matmul, linear and linear_relu: forward and backward, all through the deterministic gemm().
#include <algorithm>
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

namespace {

struct LinearShape {
    std::int64_t batch = 0, in = 0, out = 0;
    bool has_bias = false;
};

LinearShape check_linear(const Var& x, const Var& w, const Var& b, const char* op) {
    require_matrix(x.shape(), op, "x");
    require_matrix(w.shape(), op, "weight");
    LinearShape s{x.shape()[0], x.shape()[1], w.shape()[0], b.defined()};
    if (w.shape()[1] != s.in)
        throw ShapeError(std::string(op) + ": input " + x.shape().str() + " does not match weight " + w.shape().str());
    if (s.has_bias && b.value().numel() != s.out)
        throw ShapeError(std::string(op) + ": bias " + b.shape().str() + " does not match weight " + w.shape().str());
    return s;
}

// y[B,out] = x[B,in] w[out,in]^T + b[out]: the bias rows first, then the product added onto them. The
// bias rows are appended to a reserved vector, not written over a zero-filled one: one pass over y
// instead of two (a Tensor's storage is value-initialised; the zero fill was 4% of W4).
Tensor linear_values(const Var& x, const Var& w, const Var& b, const LinearShape& s) {
    Tensor y;
    double beta = 0.0;
    if (s.has_bias) {
        const double* bias = b.value().data();
        std::vector<double> rows;
        rows.reserve(static_cast<std::size_t>(s.batch * s.out));
        for (std::int64_t r = 0; r < s.batch; ++r) rows.insert(rows.end(), bias, bias + s.out);
        y = Tensor(Shape{s.batch, s.out}, std::move(rows));
        beta = 1.0;
    } else {
        y = Tensor(Shape{s.batch, s.out});
    }
    gemm(false, true, s.batch, s.out, s.in, 1.0, x.value().data(), s.in, w.value().data(), s.in, beta, y.data(), s.out);
    return y;
}

// The backward of y = x w^T + b given dy = g [B,out]:  dx = g w;  dw = g^T x;  db = column sums of g.
void linear_backward(Node& self, const double* g, const LinearShape& s) {
    Node& X = *self.parents[0];
    Node& W = *self.parents[1];
    const std::int64_t B = s.batch, in = s.in, out_dim = s.out;
    if (X.requires_grad)
        gemm(false, false, B, in, out_dim, 1.0, g, out_dim, W.value.data(), in, 1.0, X.grad_buffer().data(), in);
    if (W.requires_grad)
        gemm(true, false, out_dim, in, B, 1.0, g, out_dim, X.value.data(), in, 1.0, W.grad_buffer().data(), in);
    if (s.has_bias && self.parents[2]->requires_grad) {
        double* db = self.parents[2]->grad_buffer().data();
        // Column sums, each in row order (r = 0, 1, ...), accumulated row by row so that the inner
        // loop runs along memory; then added to the gradient. One thread: the work is small.
        std::vector<double> sums(static_cast<std::size_t>(out_dim), 0.0);
        for (std::int64_t r = 0; r < B; ++r)
            for (std::int64_t c = 0; c < out_dim; ++c) sums[static_cast<std::size_t>(c)] += g[r * out_dim + c];
        for (std::int64_t c = 0; c < out_dim; ++c) db[c] += sums[static_cast<std::size_t>(c)];
    }
}

std::vector<Var> linear_inputs(const Var& x, const Var& w, const Var& b) {
    std::vector<Var> inputs{x, w};
    if (b.defined()) inputs.push_back(b);
    return inputs;
}

// y = relu(y) in place and masked = g where y > 0, else 0. Plain loops over restrict pointers written
// so that GCC vectorises them without branches (a branch on the sign of y mispredicts half the time:
// it made the ReLU backward cost 5% of an attack). Selecting 0 instead of multiplying g by 0
// differs only in the sign of zeros, which the GEMMs and sums that consume the result drop.
void relu_in_place(double* __restrict y, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.0 ? y[i] : 0.0;   // as relu: NaN and -0 become +0
}
void relu_mask(const double* __restrict y, const double* __restrict g, double* __restrict masked, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        const double yi = y[i], gi = g[i];   // both loaded unconditionally: a select, not a branch
        masked[i] = yi > 0.0 ? gi : 0.0;
    }
}

}  // namespace

// y[B,out] = x[B,in] w[out,in]^T + b[out].  dx = dy w;  dw = dy^T x;  db = column sums of dy.
Var linear(const Var& x, const Var& w, const Var& b) {
    const LinearShape s = check_linear(x, w, b, "linear");
    return make_result(linear_values(x, w, b, s), "linear", linear_inputs(x, w, b),
                       [s](Node& self) { linear_backward(self, self.grad.data(), s); });
}

// y = relu(x w^T + b).  The gradient of the pre-activation is dy where y > 0, then as linear.
// The bias goes in first, as in linear: OpenBLAS adds the product onto C one K-chunk at a time, so
// adding the bias after the product would round differently.
Var linear_relu(const Var& x, const Var& w, const Var& b) {
    const LinearShape s = check_linear(x, w, b, "linear_relu");
    Tensor y = linear_values(x, w, b, s);
    double* yd = y.data();
    parallel_for((y.numel() + kElementGrain - 1) / kElementGrain, 2, [&](std::int64_t c) {
        const std::int64_t lo = c * kElementGrain;
        relu_in_place(yd + lo, std::min(kElementGrain, y.numel() - lo));
    });
    return make_result(std::move(y), "linear_relu", linear_inputs(x, w, b), [s](Node& self) {
        const std::int64_t n = self.value.numel();
        Tensor masked(self.value.shape());
        const double* yv = self.value.data();
        const double* g = self.grad.data();
        double* md = masked.data();
        parallel_for((n + kElementGrain - 1) / kElementGrain, 2, [&](std::int64_t c) {
            const std::int64_t lo = c * kElementGrain;
            relu_mask(yv + lo, g + lo, md + lo, std::min(kElementGrain, n - lo));
        });
        linear_backward(self, md, s);
    });
}

}  // namespace moelab
