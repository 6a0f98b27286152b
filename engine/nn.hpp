// moelab engine: neural-network layers built from ops.hpp.
//
// Layers are plain structs holding Vars that live in a ParamRegistry under dotted names; a layer's
// forward is a const function of its input. Create layers through their `create` functions so that
// every parameter is registered and initialised from a named random stream.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/ops.hpp"
#include "engine/params.hpp"

namespace moelab {

// y = x W^T + b with W [out, in] and b [out] (PyTorch's layout, so .npz exports load into torch).
// Initialisation, as PyTorch's nn.Linear: W and b uniform in [-1/sqrt(in), 1/sqrt(in)], drawn from
// rng.split(<name>.weight) and rng.split(<name>.bias) element by element. Registered as
// "<name>.weight" and "<name>.bias".
struct Linear {
    Var weight;
    Var bias;   // undefined when created with bias = false
    std::int64_t in = 0, out = 0;

    static Linear create(ParamRegistry& params, const std::string& name, std::int64_t in, std::int64_t out,
                         const Rng& rng, bool bias = true);
    Var forward(const Var& x) const { return linear(x, weight, bias); }
    Var forward_relu(const Var& x) const { return linear_relu(x, weight, bias); }   // relu(forward(x)), fused
};

// A ReLU MLP: sizes {d0, d1, ..., dL} gives L Linear layers "<name>.fc1" ... "<name>.fcL" with ReLU
// (and dropout, when p > 0 and training) between them and none after the last.
struct MLP {
    std::vector<Linear> layers;
    double dropout_p = 0.0;

    static MLP create(ParamRegistry& params, const std::string& name, const std::vector<std::int64_t>& sizes,
                      const Rng& rng, double dropout_p = 0.0);
    // `dropout_rng` must be a stream unique to this call (e.g. split by step); used only when training.
    Var forward(const Var& x, bool training = false, const Rng& dropout_rng = Rng(0)) const;
};

}  // namespace moelab
