// The model's decision in exact rational arithmetic (rational_check.hpp), over the plain affine stages the
// exact solvers use (theory/network/network.hpp).
#include "theory/network/rational_check.hpp"

#include <gmpxx.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "theory/exact/exact.hpp"
#include "theory/network/network.hpp"

namespace moelab {
namespace {

using Vec = std::vector<mpq_class>;

Vec apply_affine_exact(const AffineMap& f, const Vec& x) {
    Vec y(static_cast<std::size_t>(f.out()));
    for (std::int64_t r = 0; r < f.out(); ++r) {
        mpq_class s(f.b.data()[r]);
        for (std::int64_t c = 0; c < f.in(); ++c) {
            const double w = f.weight(r, c);
            if (w != 0.0) s += mpq_class(w) * x[static_cast<std::size_t>(c)];
        }
        y[static_cast<std::size_t>(r)] = std::move(s);
    }
    return y;
}

Vec relu_exact(Vec v) {
    for (mpq_class& e : v)
        if (sgn(e) < 0) e = 0;
    return v;
}

Vec apply_chain_exact(const MapChain& chain, Vec x) {
    for (std::size_t l = 0; l < chain.size(); ++l) x = apply_affine_exact(chain[l], l > 0 ? relu_exact(std::move(x)) : x);
    return x;
}

// The highest score, ties to the lower index (topk() in engine/ops_index.cpp, argmax_rows).
std::size_t argmax_exact(const Vec& v) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < v.size(); ++i)
        if (v[i] > v[best]) best = i;
    return best;
}

double round_down(const mpq_class& q) {
    double d = q.get_d();   // truncates toward zero
    if (mpq_class(d) > q) d = std::nextafter(d, -std::numeric_limits<double>::infinity());
    return d;
}

double round_up(const mpq_class& q) {
    double d = q.get_d();
    if (mpq_class(d) < q) d = std::nextafter(d, std::numeric_limits<double>::infinity());
    return d;
}

mpq_class linf_distance_exact(const double* a, const double* b, std::int64_t n) {
    mpq_class best = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        mpq_class diff = mpq_class(a[i]) - mpq_class(b[i]);
        if (sgn(diff) < 0) diff = -diff;
        if (diff > best) best = diff;
    }
    return best;
}

}  // namespace

struct RationalModel::Impl {
    Network net;
    std::int64_t input_dim = 0;
    bool gate_is_one = true;

    // Logits of the chosen experts (the gate skipped: see the header).
    Vec logits(const double* x) const {
        Vec h(static_cast<std::size_t>(input_dim));
        for (std::int64_t i = 0; i < input_dim; ++i) h[static_cast<std::size_t>(i)] = mpq_class(x[i]);
        for (const Stage& s : net.stages) {
            if (s.kind == Stage::Kind::affine) h = apply_affine_exact(s.map, h);
            else if (s.kind == Stage::Kind::relu) h = relu_exact(std::move(h));
            else if (s.kind == Stage::Kind::chain) h = apply_chain_exact(s.chain, std::move(h));
            else {
                const std::size_t expert = argmax_exact(apply_affine_exact(s.moe.router, h));
                h = apply_chain_exact(s.moe.experts[expert], std::move(h));
            }
        }
        return h;
    }
};

std::string rational_support(const Classifier& model) { return exact_support(model); }

RationalModel::RationalModel(const Classifier& model) : impl_(std::make_unique<Impl>()) {
    const std::string why = rational_support(model);
    if (!why.empty()) throw std::invalid_argument("rational forward: " + why);
    impl_->net = network_of(model);
    impl_->input_dim = model.config().input_dim;
    for (const Stage& s : impl_->net.stages)
        if (s.kind == Stage::Kind::moe && s.moe.experts.size() > 1 && s.moe.gate == GateMode::softmax_then_topk)
            impl_->gate_is_one = false;
}

RationalModel::~RationalModel() = default;
RationalModel::RationalModel(RationalModel&&) noexcept = default;

std::int64_t RationalModel::input_dim() const { return impl_->input_dim; }

int RationalModel::predict(const double* x) const { return static_cast<int>(argmax_exact(impl_->logits(x))); }

double RationalModel::margin_lower(const double* x, int label, int j) const {
    if (!impl_->gate_is_one) throw std::invalid_argument("rational forward: margins need a gate that is exactly 1");
    const Vec z = impl_->logits(x);
    return round_down(z.at(static_cast<std::size_t>(label)) - z.at(static_cast<std::size_t>(j)));
}

double linf_distance_up(const double* a, const double* b, std::int64_t n) { return round_up(linf_distance_exact(a, b, n)); }

bool exceeds_linf_distance(double certified, const double* a, const double* b, std::int64_t n) {
    if (std::isnan(certified)) return false;
    if (std::isinf(certified)) return certified > 0;
    return mpq_class(certified) > linf_distance_exact(a, b, n);
}

}  // namespace moelab
