// moelab engine: the parameter registry.
//
// Every trainable tensor of a model is registered once under a stable dotted name
// ("experts.3.fc1.weight"), in the order the model creates it. Optimizers, checkpoints and the .npz
// export all walk this list, so names and order are the model's on-disk identity.
#pragma once

#include <string>
#include <vector>

#include "engine/autograd.hpp"

namespace moelab {

struct NamedParam {
    std::string name;
    Var var;   // requires_grad = true
};

class ParamRegistry {
public:
    // Registers a new trainable tensor. Throws std::invalid_argument on a duplicate or empty name.
    Var add(const std::string& name, Tensor init);
    // Throws std::out_of_range "unknown parameter 'x'" when absent.
    Var get(const std::string& name) const;
    bool contains(const std::string& name) const;
    const std::vector<NamedParam>& all() const { return params_; }
    std::size_t size() const { return params_.size(); }
    std::int64_t numel() const;   // total number of scalars
    void zero_grad();

private:
    std::vector<NamedParam> params_;
};

// While a FrozenParams lives, the registry's parameters do not require gradients: graphs built then
// carry no parameter gradients and backward skips their GEMMs. Attacks use it: they need gradients
// w.r.t. the input only, and the weight gradients would be half the work of every backward pass.
// Restores each parameter's flag on destruction. Not thread-safe (like graph building).
class FrozenParams {
public:
    explicit FrozenParams(const ParamRegistry& params);
    ~FrozenParams();
    FrozenParams(const FrozenParams&) = delete;
    FrozenParams& operator=(const FrozenParams&) = delete;

private:
    std::vector<std::pair<Var, bool>> saved_;
};

// Joins dotted name parts: join_name("experts.3", "fc1") == "experts.3.fc1"; an empty prefix is dropped.
std::string join_name(const std::string& prefix, const std::string& name);

}  // namespace moelab
