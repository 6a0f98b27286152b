#include "engine/nn.hpp"

#include <cmath>
#include <stdexcept>

namespace moelab {

namespace {
Tensor uniform_tensor(Shape shape, double bound, const Rng& rng) {
    Tensor t(shape);
    for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(static_cast<std::uint64_t>(i), -bound, bound);
    return t;
}
}  // namespace

Linear Linear::create(ParamRegistry& params, const std::string& name, std::int64_t in, std::int64_t out,
                      const Rng& rng, bool bias) {
    if (in < 1 || out < 1)
        throw std::invalid_argument("linear layer '" + name + "': sizes must be positive, got " + std::to_string(in) +
                                    " -> " + std::to_string(out));
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    Linear l;
    l.in = in;
    l.out = out;
    const std::string w = join_name(name, "weight"), b = join_name(name, "bias");
    l.weight = params.add(w, uniform_tensor(Shape{out, in}, bound, rng.split(w)));
    if (bias) l.bias = params.add(b, uniform_tensor(Shape{out}, bound, rng.split(b)));
    return l;
}

MLP MLP::create(ParamRegistry& params, const std::string& name, const std::vector<std::int64_t>& sizes,
                const Rng& rng, double dropout_p) {
    if (sizes.size() < 2) throw std::invalid_argument("mlp '" + name + "': needs at least an input and an output size");
    if (!(dropout_p >= 0.0 && dropout_p < 1.0))
        throw std::invalid_argument("mlp '" + name + "': dropout must be in [0, 1), got " + std::to_string(dropout_p));
    MLP m;
    m.dropout_p = dropout_p;
    for (std::size_t i = 0; i + 1 < sizes.size(); ++i)
        m.layers.push_back(
            Linear::create(params, join_name(name, "fc" + std::to_string(i + 1)), sizes[i], sizes[i + 1], rng));
    return m;
}

Var MLP::forward(const Var& x, bool training, const Rng& dropout_rng) const {
    Var h = x;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const bool hidden = i + 1 < layers.size();
        h = hidden ? layers[i].forward_relu(h) : layers[i].forward(h);
        if (hidden && training && dropout_p > 0.0) h = dropout(h, dropout_p, dropout_rng.split(i), true);
    }
    return h;
}

}  // namespace moelab
