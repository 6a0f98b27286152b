// moelab engine: optimizers (SGD with momentum, Adam, AdamW), following PyTorch's update rules so
// that runs can be compared with torch.optim step for step.
//
//   SGD:   g = grad + wd * p;  buf = g (first step) or momentum * buf + g;  p -= lr * buf
//   Adam:  g = grad + wd * p (L2, coupled);  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//          p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   AdamW: p *= 1 - lr * wd (decoupled, Loshchilov and Hutter 2019), then Adam with wd = 0.
//
// Parameters whose gradient is empty (no gradient reached them this step) are left unchanged and
// their moments are not advanced. State (step count, moments) is exported by name for checkpoints
// so that a resumed run continues bit for bit.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/params.hpp"

namespace moelab {

enum class OptimizerKind { sgd, adam, adamw };

// Parses "sgd", "adam", "adamw"; throws std::invalid_argument naming the accepted values.
OptimizerKind parse_optimizer_kind(const std::string& name);
std::string to_string(OptimizerKind kind);

struct OptimizerConfig {
    OptimizerKind kind = OptimizerKind::adam;
    double lr = 1e-3;
    double momentum = 0.0;       // SGD only
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double weight_decay = 0.0;
};

class Optimizer {
public:
    // Keeps a reference to `params`; the registry must outlive the optimizer. Validates the config
    // (lr > 0, 0 <= momentum < 1, 0 <= betas < 1, eps > 0, weight_decay >= 0).
    Optimizer(ParamRegistry& params, OptimizerConfig config);

    void step();
    void zero_grad() { params_.zero_grad(); }
    void set_lr(double lr) { config_.lr = lr; }
    double lr() const { return config_.lr; }
    long steps() const { return steps_; }
    const OptimizerConfig& config() const { return config_; }

    // "optim.step", and per parameter that has state: "optim.t.<param>" (its own step count),
    // "optim.m.<param>" and "optim.v.<param>" (Adam) or "optim.momentum.<param>" (SGD).
    std::vector<std::pair<std::string, Tensor>> state() const;
    // Restores what state() exported; throws naming a missing or mis-shaped entry.
    void load_state(const std::vector<std::pair<std::string, Tensor>>& state);

private:
    ParamRegistry& params_;
    OptimizerConfig config_;
    long steps_ = 0;
    std::vector<Tensor> m_, v_;   // per parameter, in registry order (empty until first used)
    std::vector<long> param_steps_;   // per parameter: steps in which it had a gradient
};

}  // namespace moelab
