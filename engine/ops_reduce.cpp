// Reductions: sum, mean, max over one axis; sum and mean over everything.
#include <stdexcept>

#include "engine/ops.hpp"
#include "engine/parallel.hpp"

namespace moelab {

namespace {

// A tensor viewed as [outer, n, inner] around the reduced axis.
struct AxisView {
    std::int64_t outer = 1, n = 1, inner = 1;
    Shape out_shape;
};

AxisView axis_view(const Shape& s, int axis, bool keepdim, const char* op) {
    const int ax = normalize_axis(axis, s.rank(), op);
    AxisView v;
    std::vector<std::int64_t> out;
    for (int i = 0; i < s.rank(); ++i) {
        if (i < ax) v.outer *= s[i];
        if (i > ax) v.inner *= s[i];
        if (i == ax) {
            v.n = s[i];
            if (keepdim) out.push_back(1);
        } else {
            out.push_back(s[i]);
        }
    }
    v.out_shape = Shape(out);
    return v;
}

// out[o, i] = sum_j a[o, j, i], each sum in j order. Work is split over (o, i) only.
Tensor sum_axis(const Tensor& a, const AxisView& v) {
    Tensor out(v.out_shape);
    const double* ad = a.data();
    double* od = out.data();
    parallel_for(v.outer * v.inner, kElementGrain, [&](std::int64_t oi) {
        const std::int64_t o = oi / v.inner, i = oi % v.inner;
        double s = 0.0;
        for (std::int64_t j = 0; j < v.n; ++j) s += ad[(o * v.n + j) * v.inner + i];
        od[oi] = s;
    });
    return out;
}

// Adds scale * g[o, i] to every grad[o, j, i].
void spread_axis(const Tensor& g, double scale, const AxisView& v, double* grad) {
    const double* gd = g.data();
    parallel_for(v.outer * v.n, row_grain(v.inner), [&](std::int64_t oj) {
        const std::int64_t o = oj / v.n;
        for (std::int64_t i = 0; i < v.inner; ++i) grad[oj * v.inner + i] += scale * gd[o * v.inner + i];
    });
}

}  // namespace

Var sum(const Var& a, int axis, bool keepdim) {
    const AxisView v = axis_view(a.shape(), axis, keepdim, "sum");
    return make_result(sum_axis(a.value(), v), "sum", {a},
                       [v](Node& self) { spread_axis(self.grad, 1.0, v, self.parents[0]->grad_buffer().data()); });
}

Var mean(const Var& a, int axis, bool keepdim) {
    const AxisView v = axis_view(a.shape(), axis, keepdim, "mean");
    if (v.n == 0) throw ShapeError("mean: empty axis in shape " + a.shape().str());
    const double inv = 1.0 / static_cast<double>(v.n);
    Tensor out = sum_axis(a.value(), v);
    for (double& x : out.vec()) x *= inv;
    return make_result(std::move(out), "mean", {a}, [v, inv](Node& self) {
        spread_axis(self.grad, inv, v, self.parents[0]->grad_buffer().data());
    });
}

Var max(const Var& a, int axis, bool keepdim) {
    const AxisView v = axis_view(a.shape(), axis, keepdim, "max");
    if (v.n == 0) throw ShapeError("max: empty axis in shape " + a.shape().str());
    Tensor out(v.out_shape);
    std::vector<std::int64_t> arg(static_cast<std::size_t>(out.numel()));
    const double* ad = a.value().data();
    parallel_for(v.outer * v.inner, kElementGrain, [&](std::int64_t oi) {
        const std::int64_t o = oi / v.inner, i = oi % v.inner;
        std::int64_t best = 0;
        double m = ad[o * v.n * v.inner + i];
        for (std::int64_t j = 1; j < v.n; ++j) {
            const double x = ad[(o * v.n + j) * v.inner + i];
            if (x > m) {
                m = x;
                best = j;
            }
        }
        out[oi] = m;
        arg[static_cast<std::size_t>(oi)] = best;
    });
    return make_result(std::move(out), "max", {a}, [v, arg = std::move(arg)](Node& self) {
        double* ga = self.parents[0]->grad_buffer().data();
        for (std::int64_t oi = 0; oi < v.outer * v.inner; ++oi) {
            const std::int64_t o = oi / v.inner, i = oi % v.inner;
            ga[(o * v.n + arg[static_cast<std::size_t>(oi)]) * v.inner + i] += self.grad[oi];
        }
    });
}

namespace {
// Sum of all elements: fixed chunks of kChunk summed in order, then the chunk sums in order, so
// the bits do not depend on the thread count.
constexpr std::int64_t kChunk = 1 << 14;
double sum_all_values(const Tensor& a) {
    const std::int64_t n = a.numel(), chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> part(static_cast<std::size_t>(chunks), 0.0);
    const double* ad = a.data();
    parallel_for(chunks, 2, [&](std::int64_t c) {
        double s = 0.0;
        const std::int64_t end = std::min(n, (c + 1) * kChunk);
        for (std::int64_t i = c * kChunk; i < end; ++i) s += ad[i];
        part[static_cast<std::size_t>(c)] = s;
    });
    double s = 0.0;
    for (double p : part) s += p;
    return s;
}
}  // namespace

Var sum_all(const Var& a) {
    return make_result(Tensor::scalar(sum_all_values(a.value())), "sum_all", {a}, [](Node& self) {
        Tensor& g = self.parents[0]->grad_buffer();
        const double s = self.grad[0];
        double* gd = g.data();
        parallel_for(g.numel(), kElementGrain, [&](std::int64_t i) { gd[i] += s; });
    });
}

Var mean_all(const Var& a) {
    if (a.value().numel() == 0) throw ShapeError("mean_all: empty tensor " + a.shape().str());
    const double inv = 1.0 / static_cast<double>(a.value().numel());
    return make_result(Tensor::scalar(sum_all_values(a.value()) * inv), "mean_all", {a}, [inv](Node& self) {
        Tensor& g = self.parents[0]->grad_buffer();
        const double s = self.grad[0] * inv;
        double* gd = g.data();
        parallel_for(g.numel(), kElementGrain, [&](std::int64_t i) { gd[i] += s; });
    });
}

}  // namespace moelab
