#include "engine/params.hpp"

#include <stdexcept>

namespace moelab {

Var ParamRegistry::add(const std::string& name, Tensor init) {
    if (name.empty()) throw std::invalid_argument("parameter registry: empty parameter name");
    if (contains(name)) throw std::invalid_argument("parameter registry: duplicate parameter name '" + name + "'");
    Var v(std::move(init), /*requires_grad=*/true);
    params_.push_back({name, v});
    return v;
}

Var ParamRegistry::get(const std::string& name) const {
    for (const auto& p : params_)
        if (p.name == name) return p.var;
    throw std::out_of_range("unknown parameter '" + name + "'");
}

bool ParamRegistry::contains(const std::string& name) const {
    for (const auto& p : params_)
        if (p.name == name) return true;
    return false;
}

std::int64_t ParamRegistry::numel() const {
    std::int64_t n = 0;
    for (const auto& p : params_) n += p.var.value().numel();
    return n;
}

void ParamRegistry::zero_grad() {
    for (auto& p : params_) p.var.zero_grad();
}

FrozenParams::FrozenParams(const ParamRegistry& params) {
    for (const auto& p : params.all()) {
        saved_.emplace_back(p.var, p.var.node()->requires_grad);
        p.var.node()->requires_grad = false;
    }
}

FrozenParams::~FrozenParams() {
    for (auto& [var, flag] : saved_) var.node()->requires_grad = flag;
}

std::string join_name(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
}

}  // namespace moelab
