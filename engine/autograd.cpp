#include "engine/autograd.hpp"

#include <unordered_set>

namespace moelab {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
GradModeGuard::GradModeGuard(bool enabled) : previous_(g_grad_enabled) { g_grad_enabled = enabled; }
GradModeGuard::~GradModeGuard() { g_grad_enabled = previous_; }

void Node::accumulate(Tensor&& g) {
    if (grad.empty()) {
        require_same_shape(value.shape(), g.shape(), op);
        grad = std::move(g);
        return;
    }
    accumulate(static_cast<const Tensor&>(g));
}

void Node::accumulate(const Tensor& g) {
    if (grad.empty()) {
        require_same_shape(value.shape(), g.shape(), op);
        grad = g;
        return;
    }
    require_same_shape(grad.shape(), g.shape(), op);
    double* d = grad.data();
    const double* s = g.data();
    const std::int64_t n = g.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) d[i] += s[i];
}

Tensor& Node::grad_buffer() {
    if (grad.numel() != value.numel() || grad.shape() != value.shape()) grad = Tensor(value.shape(), 0.0);
    return grad;
}

Var::Var(Tensor value, bool requires_grad) : node_(std::make_shared<Node>()) {
    node_->value = std::move(value);
    node_->requires_grad = requires_grad;
}

Var make_result(Tensor value, const char* op, std::vector<Var> inputs, std::function<void(Node&)> backward_fn) {
    auto node = std::make_shared<Node>();
    node->value = std::move(value);
    node->op = op;
    if (!g_grad_enabled) return Var(node);
    bool any = false;
    for (const Var& v : inputs) any = any || v.requires_grad();
    if (!any) return Var(node);
    node->requires_grad = true;
    node->parents.reserve(inputs.size());
    for (Var& v : inputs) node->parents.push_back(v.node());
    node->backward_fn = std::move(backward_fn);
    return Var(node);
}

void backward(const Var& root) {
    if (root.value().numel() != 1)
        throw ShapeError(std::string("backward: root of shape ") + root.shape().str() +
                         " is not a scalar; pass a seed gradient");
    backward(root, Tensor(root.shape(), 1.0));
}

void backward(const Var& root, const Tensor& seed) { backward(root, Tensor(seed)); }

void backward(const Var& root, Tensor&& seed) {
    require_same_shape(root.shape(), seed.shape(), "backward seed");
    if (!root.requires_grad()) return;
    // Topological order by iterative depth-first search (no recursion limit on deep graphs).
    std::vector<Node*> order;
    std::unordered_set<Node*> seen;
    std::vector<std::pair<Node*, std::size_t>> stack{{root.node().get(), 0}};
    seen.insert(root.node().get());
    while (!stack.empty()) {
        auto& [node, next] = stack.back();
        if (next < node->parents.size()) {
            Node* p = node->parents[next++].get();
            if (p->requires_grad && seen.insert(p).second) stack.push_back({p, 0});
        } else {
            order.push_back(node);
            stack.pop_back();
        }
    }
    root.node()->accumulate(std::move(seed));
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        Node* n = *it;
        if (n->backward_fn && !n->grad.empty()) n->backward_fn(*n);
    }
}

}  // namespace moelab
