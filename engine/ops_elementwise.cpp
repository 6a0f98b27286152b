// Elementwise ops: binary with row/scalar broadcast, scalar ops, unary activations.
#include <cmath>

#include "engine/ops.hpp"
#include "engine/parallel.hpp"

namespace moelab {

namespace {

enum class Broadcast { same, row, scalar };

Broadcast classify(const Shape& a, const Shape& b, const char* op) {
    if (a == b) return Broadcast::same;
    if (b.numel() == 1) return Broadcast::scalar;
    if (b.numel() == a.cols() && (b.rank() == 1 || (b.rank() == 2 && b[0] == 1))) return Broadcast::row;
    throw ShapeError(std::string(op) + ": shapes " + a.str() + " and " + b.str() +
                     " do not broadcast (b must match a, be one element, or be a row of a.cols() elements)");
}

// Index into b for element i of a.
inline std::int64_t b_index(Broadcast k, std::int64_t i, std::int64_t cols) {
    return k == Broadcast::same ? i : k == Broadcast::row ? i % cols : 0;
}

// Reduces a per-element tensor t (shape of a) to b's shape and accumulates it into B's gradient.
void accumulate_reduced(Node& B, const Tensor& t, Broadcast k) {
    if (k == Broadcast::same) {
        B.accumulate(t);
        return;
    }
    Tensor& g = B.grad_buffer();
    const std::int64_t rows = t.rows(), cols = t.cols();
    if (k == Broadcast::row) {
        double* gd = g.data();
        parallel_for(cols, 1 << 20, [&](std::int64_t c) {
            double s = 0.0;
            for (std::int64_t r = 0; r < rows; ++r) s += t[r * cols + c];
            gd[c] += s;
        });
    } else {
        double s = 0.0;
        for (std::int64_t i = 0; i < t.numel(); ++i) s += t[i];
        g[0] += s;
    }
}

// out[i] = f(a[i], b[bi]); dA[i] = dy[i] * fa(a, b, out); dB reduced from dy[i] * fb(a, b, out).
template <class F, class FA, class FB>
Var binary(const char* op, const Var& a, const Var& b, F f, FA fa, FB fb) {
    const Broadcast k = classify(a.shape(), b.shape(), op);
    const std::int64_t n = a.value().numel(), cols = a.value().cols();
    Tensor out(a.shape());
    const double* ad = a.value().data();
    const double* bd = b.value().data();
    double* od = out.data();
    parallel_for(n, kElementGrain, [&](std::int64_t i) { od[i] = f(ad[i], bd[b_index(k, i, cols)]); });
    return make_result(std::move(out), op, {a, b}, [k, n, cols, fa, fb](Node& self) {
        Node& A = *self.parents[0];
        Node& B = *self.parents[1];
        const double* g = self.grad.data();
        const double* av = A.value.data();
        const double* bv = B.value.data();
        const double* ov = self.value.data();
        if (A.requires_grad) {
            double* ga = A.grad_buffer().data();
            parallel_for(n, kElementGrain, [&](std::int64_t i) {
                const std::int64_t j = b_index(k, i, cols);
                ga[i] += g[i] * fa(av[i], bv[j], ov[i]);
            });
        }
        if (B.requires_grad) {
            Tensor t(A.value.shape());
            double* td = t.data();
            parallel_for(n, kElementGrain, [&](std::int64_t i) {
                const std::int64_t j = b_index(k, i, cols);
                td[i] = g[i] * fb(av[i], bv[j], ov[i]);
            });
            accumulate_reduced(B, t, k);
        }
    });
}

// out[i] = f(a[i]); dA[i] = dy[i] * df(a[i], out[i]).
template <class F, class DF>
Var unary(const char* op, const Var& a, F f, DF df) {
    const std::int64_t n = a.value().numel();
    Tensor out(a.shape());
    const double* ad = a.value().data();
    double* od = out.data();
    parallel_for(n, kElementGrain, [&](std::int64_t i) { od[i] = f(ad[i]); });
    return make_result(std::move(out), op, {a}, [n, df](Node& self) {
        Node& A = *self.parents[0];
        const double* g = self.grad.data();
        const double* av = A.value.data();
        const double* ov = self.value.data();
        double* ga = A.grad_buffer().data();
        parallel_for(n, kElementGrain, [&](std::int64_t i) { ga[i] += g[i] * df(av[i], ov[i]); });
    });
}

}  // namespace

Var add(const Var& a, const Var& b) {
    return binary("add", a, b, [](double x, double y) { return x + y; }, [](double, double, double) { return 1.0; },
                  [](double, double, double) { return 1.0; });
}

Var sub(const Var& a, const Var& b) {
    return binary("sub", a, b, [](double x, double y) { return x - y; }, [](double, double, double) { return 1.0; },
                  [](double, double, double) { return -1.0; });
}

Var mul(const Var& a, const Var& b) {
    return binary("mul", a, b, [](double x, double y) { return x * y; }, [](double, double y, double) { return y; },
                  [](double x, double, double) { return x; });
}

Var div(const Var& a, const Var& b) {
    return binary("div", a, b, [](double x, double y) { return x / y; },
                  [](double, double y, double) { return 1.0 / y; },
                  [](double x, double y, double) { return -x / (y * y); });
}

Var scale_rows(const Var& a, const Var& s) {
    const std::int64_t rows = a.value().rows(), cols = a.value().cols();
    if (s.value().numel() != rows || a.shape().rank() != 2)
        throw ShapeError("scale_rows: shapes " + a.shape().str() + " and " + s.shape().str() +
                         " do not match (expected [R, C] and [R])");
    Tensor out(a.shape());
    const double* ad = a.value().data();
    const double* sd = s.value().data();
    double* od = out.data();
    parallel_for(rows, row_grain(cols), [&](std::int64_t r) {
        for (std::int64_t c = 0; c < cols; ++c) od[r * cols + c] = ad[r * cols + c] * sd[r];
    });
    // d a[r, c] = g[r, c] * s[r];  d s[r] = sum_c g[r, c] * a[r, c].
    return make_result(std::move(out), "scale_rows", {a, s}, [rows, cols](Node& self) {
        Node& A = *self.parents[0];
        Node& S = *self.parents[1];
        const double* g = self.grad.data();
        if (A.requires_grad) {
            double* ga = A.grad_buffer().data();
            const double* sv = S.value.data();
            parallel_for(rows, row_grain(cols), [&](std::int64_t r) {
                for (std::int64_t c = 0; c < cols; ++c) ga[r * cols + c] += g[r * cols + c] * sv[r];
            });
        }
        if (S.requires_grad) {
            double* gs = S.grad_buffer().data();
            const double* av = A.value.data();
            parallel_for(rows, row_grain(cols), [&](std::int64_t r) {
                double t = 0.0;
                for (std::int64_t c = 0; c < cols; ++c) t += g[r * cols + c] * av[r * cols + c];
                gs[r] += t;
            });
        }
    });
}

Var add_scalar(const Var& a, double s) {
    return unary("add_scalar", a, [s](double x) { return x + s; }, [](double, double) { return 1.0; });
}

Var mul_scalar(const Var& a, double s) {
    return unary("mul_scalar", a, [s](double x) { return x * s; }, [s](double, double) { return s; });
}

Var pow_scalar(const Var& a, double p) {
    return unary("pow_scalar", a, [p](double x) { return std::pow(x, p); },
                 [p](double x, double) { return p * std::pow(x, p - 1.0); });
}

Var relu(const Var& a) {
    return unary("relu", a, [](double x) { return x > 0.0 ? x : 0.0; },
                 [](double x, double) { return x > 0.0 ? 1.0 : 0.0; });
}

Var tanh(const Var& a) {
    return unary("tanh", a, [](double x) { return std::tanh(x); }, [](double, double y) { return 1.0 - y * y; });
}

Var sigmoid(const Var& a) {
    // 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) otherwise: no overflow for large |x|.
    return unary(
        "sigmoid", a,
        [](double x) {
            if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
            const double e = std::exp(x);
            return e / (1.0 + e);
        },
        [](double, double y) { return y * (1.0 - y); });
}

Var softplus(const Var& a) {
    // log(1 + e^x) = max(x, 0) + log1p(e^-|x|); derivative sigmoid(x).
    return unary(
        "softplus", a, [](double x) { return (x > 0.0 ? x : 0.0) + std::log1p(std::exp(-std::fabs(x))); },
        [](double x, double) {
            if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
            const double e = std::exp(x);
            return e / (1.0 + e);
        });
}

Var exp(const Var& a) {
    return unary("exp", a, [](double x) { return std::exp(x); }, [](double, double y) { return y; });
}

Var log(const Var& a) {
    return unary("log", a, [](double x) { return std::log(x); }, [](double x, double) { return 1.0 / x; });
}

Var abs(const Var& a) {
    return unary("abs", a, [](double x) { return std::fabs(x); },
                 [](double x, double) { return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : 0.0); });
}

Var clamp(const Var& a, double lo, double hi) {
    if (!(lo <= hi))
        throw std::invalid_argument("clamp: lower bound " + std::to_string(lo) + " exceeds upper bound " +
                                    std::to_string(hi));
    return unary("clamp", a, [lo, hi](double x) { return x < lo ? lo : (x > hi ? hi : x); },
                 [lo, hi](double x, double) { return (x >= lo && x <= hi) ? 1.0 : 0.0; });
}

}  // namespace moelab
