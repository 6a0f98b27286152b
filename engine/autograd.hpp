// moelab engine: reverse-mode automatic differentiation.
//
// A Var is a shared handle to a Node: the node holds its value, its gradient, the Vars it was
// computed from, and a small closure that pushes its gradient back into theirs (micrograd's design,
// with tensors). backward(loss) orders the graph topologically (the tape) and runs the closures in
// reverse. Ops live in ops.hpp; this file is only the machinery.
//
// Gradients accumulate: backward() adds into .grad of every Var with requires_grad, so call
// zero_grad() (optim.hpp does) between steps. Inputs get gradients too when created with
// requires_grad=true, which is what attacks use.
//
// Thread-safety: graphs are built and differentiated by one thread; ops parallelise inside.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.hpp"

namespace moelab {

struct Node {
    Tensor value;
    Tensor grad;                                   // empty until backward reaches this node
    bool requires_grad = false;
    const char* op = "leaf";                       // the op that made it, for error messages
    std::vector<std::shared_ptr<Node>> parents;
    std::function<void(Node& self)> backward_fn;   // reads self.grad, accumulates into parents

    // Adds g into grad, allocating zeros on first use. Throws ShapeError on a shape mismatch.
    void accumulate(const Tensor& g);
    void accumulate(Tensor&& g);   // the same; takes g's storage when grad is still empty
    // The gradient buffer, zero-initialised on first use, for ops that accumulate in place.
    Tensor& grad_buffer();
};

class Var {
public:
    Var() = default;
    explicit Var(Tensor value, bool requires_grad = false);
    explicit Var(std::shared_ptr<Node> node) : node_(std::move(node)) {}

    const Tensor& value() const { return node_->value; }
    Tensor& value() { return node_->value; }           // for optimizers and loaders; not tracked
    const Tensor& grad() const { return node_->grad; } // empty if no gradient reached this Var
    Tensor& grad() { return node_->grad; }
    const Shape& shape() const { return node_->value.shape(); }
    bool requires_grad() const { return node_ && node_->requires_grad; }
    bool defined() const { return node_ != nullptr; }
    void zero_grad() { node_->grad = Tensor(); }
    const std::shared_ptr<Node>& node() const { return node_; }

private:
    std::shared_ptr<Node> node_;
};

// Runs reverse mode from `root`. The seed gradient is ones (root must be a scalar unless `seed`
// is given with root's shape).
void backward(const Var& root);
void backward(const Var& root, const Tensor& seed);
void backward(const Var& root, Tensor&& seed);   // the same; the seed's storage becomes root's gradient

// Gradient recording is on by default. While a NoGradGuard lives (per thread), ops build no graph:
// results are plain leaves. Use it for inference and evaluation.
bool grad_enabled();
class NoGradGuard {
public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

// Sets gradient recording for this thread to `enabled` while it lives, then restores the previous setting.
// For code that needs gradients whatever its caller chose: an attack, an input gradient or a training step
// run from inside a NoGradGuard would otherwise get no gradient and silently go nowhere.
class GradModeGuard {
public:
    explicit GradModeGuard(bool enabled);
    ~GradModeGuard();
    GradModeGuard(const GradModeGuard&) = delete;
    GradModeGuard& operator=(const GradModeGuard&) = delete;

private:
    bool previous_;
};

// For op implementations: make the result node of an op. When grad recording is off or no input
// requires a gradient, the result is a leaf and `backward_fn` is dropped.
Var make_result(Tensor value, const char* op, std::vector<Var> inputs,
                std::function<void(Node& self)> backward_fn);

}  // namespace moelab
