// Shape ops (concat, reshape, transpose) and dropout.
#include <stdexcept>

#include "engine/ops.hpp"
#include "engine/parallel.hpp"

namespace moelab {

Var concat(const std::vector<Var>& parts, int axis) {
    if (parts.empty()) throw ShapeError("concat: no inputs");
    const Shape& s0 = parts[0].shape();
    const int ax = normalize_axis(axis, s0.rank(), "concat");
    std::int64_t outer = 1, inner = 1, total = 0;
    for (int i = 0; i < ax; ++i) outer *= s0[i];
    for (int i = ax + 1; i < s0.rank(); ++i) inner *= s0[i];
    std::vector<std::int64_t> widths;   // each part's contiguous run per outer index
    for (const Var& p : parts) {
        const Shape& s = p.shape();
        bool ok = s.rank() == s0.rank();
        for (int i = 0; ok && i < s.rank(); ++i) ok = (i == ax) || s[i] == s0[i];
        if (!ok) throw ShapeError("concat: shapes " + s0.str() + " and " + s.str() + " differ off axis " +
                                  std::to_string(axis));
        widths.push_back(s[ax] * inner);
        total += s[ax];
    }
    std::vector<std::int64_t> dims = s0.dims();
    dims[static_cast<std::size_t>(ax)] = total;
    Tensor out{Shape(dims)};
    const std::int64_t row = total * inner;
    std::int64_t offset = 0;
    for (std::size_t p = 0; p < parts.size(); ++p) {
        const double* src = parts[p].value().data();
        for (std::int64_t o = 0; o < outer; ++o)
            std::copy_n(src + o * widths[p], widths[p], out.data() + o * row + offset);
        offset += widths[p];
    }
    return make_result(std::move(out), "concat", parts, [widths, outer, row](Node& self) {
        std::int64_t off = 0;
        for (std::size_t p = 0; p < self.parents.size(); ++p) {
            Node& P = *self.parents[p];
            if (P.requires_grad) {
                double* g = P.grad_buffer().data();
                for (std::int64_t o = 0; o < outer; ++o)
                    for (std::int64_t c = 0; c < widths[p]; ++c) g[o * widths[p] + c] += self.grad[o * row + off + c];
            }
            off += widths[p];
        }
    });
}

Var reshape(const Var& a, Shape shape) {
    Tensor out = a.value().reshaped(shape);
    return make_result(std::move(out), "reshape", {a}, [](Node& self) {
        Node& A = *self.parents[0];
        A.accumulate(self.grad.reshaped(A.value.shape()));
    });
}

namespace {
// Copies src (shape s) into dst with axes ax0 and ax1 swapped.
void swap_axes(const Tensor& src, int ax0, int ax1, Tensor& dst) {
    const Shape& s = src.shape();
    const int r = s.rank();
    std::int64_t stride_in[Shape::kMaxRank]{}, dims_out[Shape::kMaxRank]{}, stride_out_in[Shape::kMaxRank]{};
    std::int64_t st = 1;
    for (int i = r - 1; i >= 0; --i) {
        stride_in[i] = st;
        st *= s[i];
    }
    for (int i = 0; i < r; ++i) {
        const int from = i == ax0 ? ax1 : (i == ax1 ? ax0 : i);
        dims_out[i] = s[from];
        stride_out_in[i] = stride_in[from];   // input stride of output axis i
    }
    const std::int64_t n = src.numel();
    parallel_for(n, kElementGrain, [&](std::int64_t o) {
        std::int64_t rem = o, in = 0;
        for (int i = r - 1; i >= 0; --i) {
            in += (rem % dims_out[i]) * stride_out_in[i];
            rem /= dims_out[i];
        }
        dst[o] = src[in];
    });
}
}  // namespace

Var transpose(const Var& a, int axis0, int axis1) {
    const Shape& s = a.shape();
    const int ax0 = normalize_axis(axis0, s.rank(), "transpose"), ax1 = normalize_axis(axis1, s.rank(), "transpose");
    std::vector<std::int64_t> dims = s.dims();
    std::swap(dims[static_cast<std::size_t>(ax0)], dims[static_cast<std::size_t>(ax1)]);
    Tensor out{Shape(dims)};
    swap_axes(a.value(), ax0, ax1, out);
    return make_result(std::move(out), "transpose", {a}, [ax0, ax1](Node& self) {
        Node& A = *self.parents[0];
        Tensor back(A.value.shape());
        swap_axes(self.grad, ax0, ax1, back);
        A.accumulate(back);
    });
}

Var dropout(const Var& a, double p, const Rng& rng, bool training) {
    if (!(p >= 0.0 && p < 1.0))
        throw std::invalid_argument("dropout: probability must be in [0, 1), got " + std::to_string(p));
    if (!training || p == 0.0) return a;
    const std::int64_t n = a.value().numel();
    const double scale = 1.0 / (1.0 - p);
    Tensor mask(a.shape());
    double* md = mask.data();
    parallel_for(n, kElementGrain, [&](std::int64_t i) {
        md[i] = rng.uniform(static_cast<std::uint64_t>(i)) >= p ? scale : 0.0;
    });
    Tensor out(a.shape());
    const double* ad = a.value().data();
    double* od = out.data();
    parallel_for(n, kElementGrain, [&](std::int64_t i) { od[i] = ad[i] * md[i]; });
    return make_result(std::move(out), "dropout", {a}, [mask = std::move(mask), n](Node& self) {
        double* g = self.parents[0]->grad_buffer().data();
        const double* m = mask.data();
        const double* gy = self.grad.data();
        parallel_for(n, kElementGrain, [&](std::int64_t i) { g[i] += gy[i] * m[i]; });
    });
}

}  // namespace moelab
