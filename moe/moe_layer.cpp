#include "moe/moe_layer.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>

#include "engine/blas.hpp"
#include "engine/config_error.hpp"

namespace moelab {

namespace {

// The experts' outputs on their routed rows, for inference (no graph, no dropout), with the bits of the
// graph path (index_select, then Linear / linear_relu per layer, each product cut by gemm()).
//
// Why: the graph path runs expert after expert, each op a parallel region of its own, with the whole
// [rows, hidden] activation of an expert written to memory between its layers. Here every expert's rows
// are cut into the row blocks gemm() would use, and all (expert, block) tasks run in one parallel loop:
// a task gathers its rows and takes them through all the expert's layers while they are in cache, one
// dgemm per layer (gemm_block: the call gemm() makes for that block, so the same bits). Each task writes
// only its own rows, so any schedule gives the same result. Returns false (nothing computed) when the
// expert's layers would be cut at different rows; the caller then uses the graph path.
bool expert_outputs_no_grad(const std::vector<MLP>& experts, const Tensor& x, const Dispatch& d,
                            std::vector<Tensor>& outputs) {
    struct Task {
        std::size_t expert;
        std::int64_t r0, rows;
    };
    const std::int64_t dim = x.cols();
    std::vector<Task> tasks;
    outputs.assign(experts.size(), Tensor());
    for (std::size_t i = 0; i < experts.size(); ++i) {
        const auto n = static_cast<std::int64_t>(d.rows[i].size());
        if (n == 0) continue;
        const std::vector<Linear>& layers = experts[i].layers;
        const std::int64_t block = gemm_row_block(n, layers[0].out, layers[0].in);
        for (const Linear& l : layers)
            if (gemm_row_block(n, l.out, l.in) != block) return false;
        for (std::int64_t r0 = 0; r0 < n; r0 += block) tasks.push_back({i, r0, std::min(block, n - r0)});
        outputs[i] = Tensor(Shape{n, layers.back().out});
        for (const Linear& l : layers)   // the products as gemm() would have declared them to an observer
            gemm_blocked_product(GemmCall{false, true, n, l.out, l.in, l.in, l.in, l.out, l.bias.defined() ? 1.0 : 0.0});
    }
    const double* xd = x.data();
#pragma omp parallel for schedule(dynamic) if (tasks.size() > 1)
    for (std::size_t t = 0; t < tasks.size(); ++t) {
        const Task& task = tasks[t];
        const std::vector<Linear>& layers = experts[task.expert].layers;
        const std::vector<std::int64_t>& rows = d.rows[task.expert];
        std::vector<double> h;   // the block's rows through the layers, appended (no zero fill)
        h.reserve(static_cast<std::size_t>(task.rows * dim));
        for (std::int64_t j = task.r0; j < task.r0 + task.rows; ++j)
            h.insert(h.end(), xd + rows[static_cast<std::size_t>(j)] * dim, xd + (rows[static_cast<std::size_t>(j)] + 1) * dim);
        for (std::size_t l = 0; l < layers.size(); ++l) {
            const Linear& lin = layers[l];
            const bool last = l + 1 == layers.size();
            std::vector<double> next;
            double* y = last ? outputs[task.expert].data() + task.r0 * lin.out : nullptr;
            if (!last) {
                next.reserve(static_cast<std::size_t>(task.rows * lin.out));
                next.resize(lin.bias.defined() ? 0 : static_cast<std::size_t>(task.rows * lin.out), 0.0);
            }
            if (lin.bias.defined()) {   // as linear: the bias rows first, the product added onto them
                const double* b = lin.bias.value().data();
                for (std::int64_t r = 0; r < task.rows; ++r) {
                    if (last) std::copy(b, b + lin.out, y + r * lin.out);
                    else next.insert(next.end(), b, b + lin.out);
                }
            }
            if (!last) y = next.data();
            gemm_block(false, true, 0, task.rows, lin.out, lin.in, 1.0, h.data(), lin.in, lin.weight.value().data(),
                       lin.in, lin.bias.defined() ? 1.0 : 0.0, y, lin.out);
            if (!last) {
                for (double& v : next) v = v > 0.0 ? v : 0.0;   // as relu
                h = std::move(next);
            }
        }
    }
    return true;
}

// The experts' outputs on their routed rows, stacked in expert order ([sum of the experts' rows, out]),
// with gradients: one graph node whose forward and backward run the experts in parallel.
//
// Why: with the graph built op by op, experts run one after another and only the row blocks inside each
// product can go parallel, so training and attacks gained little from a second thread. Here each expert
// is its own small graph (its gathered rows as a leaf, then MLP::forward: the very ops of the sequential
// path, so the same bits), built by whichever thread takes it; the node's backward runs backward() on each
// expert's graph, again one expert per task. Experts share no parameters, so the tasks write disjoint
// gradients; inner parallel loops run serially inside a task (OpenMP nesting is off), and every op's
// result is independent of its thread count anyway. The gradient of x is gathered afterwards, expert by
// expert in index order: a fixed order on any thread count.
Var stacked_expert_outputs(const std::vector<MLP>& experts, const Var& x, const Dispatch& d, bool training, const Rng& rng) {
    const std::size_t E = experts.size();
    const std::int64_t dim = x.value().cols(), out = experts.front().layers.back().out;
    std::vector<std::int64_t> offset(E + 1, 0);
    std::vector<std::size_t> order;   // experts with rows, largest first: only the schedule depends on it
    for (std::size_t i = 0; i < E; ++i) {
        const auto n = static_cast<std::int64_t>(d.rows[i].size());
        offset[i + 1] = offset[i] + n;
        if (n > 0) order.push_back(i);
    }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return d.rows[a].size() > d.rows[b].size(); });
    const bool grad = grad_enabled();
    const bool x_grad = grad && x.requires_grad();
    std::vector<Var> inputs(E), outputs(E);
    std::vector<std::exception_ptr> errors(E);
    const double* xd = x.value().data();
    Tensor stacked(Shape{offset[E], out});
#pragma omp parallel for schedule(dynamic, 1) if (order.size() > 1)
    for (std::size_t t = 0; t < order.size(); ++t) {
        const std::size_t i = order[t];
        try {
            const GradModeGuard grad_mode(grad);   // the caller's setting: it is per thread
            std::vector<double> rows;   // as index_select: appended, no zero fill
            rows.reserve(d.rows[i].size() * static_cast<std::size_t>(dim));
            for (std::int64_t r : d.rows[i]) rows.insert(rows.end(), xd + r * dim, xd + (r + 1) * dim);
            inputs[i] = Var(Tensor(Shape{static_cast<std::int64_t>(d.rows[i].size()), dim}, std::move(rows)), x_grad);
            outputs[i] = experts[i].forward(inputs[i], training, rng.split("expert_dropout").split(static_cast<std::uint64_t>(i)));
            const Tensor& o = outputs[i].value();   // copied while in cache
            std::copy(o.data(), o.data() + o.numel(), stacked.data() + offset[i] * out);
        } catch (...) {
            errors[i] = std::current_exception();
        }
    }
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
    std::vector<Var> parents{x};
    for (std::size_t i : order)
        for (const Linear& l : experts[i].layers) {
            parents.push_back(l.weight);
            if (l.bias.defined()) parents.push_back(l.bias);
        }
    auto backward_fn = [inputs, outputs, offset, order, rows = d.rows, dim, out](Node& self) {
        const double* g = self.grad.data();
        std::vector<std::exception_ptr> failed(outputs.size());
#pragma omp parallel for schedule(dynamic, 1) if (order.size() > 1)
        for (std::size_t t = 0; t < order.size(); ++t) {
            const std::size_t i = order[t];
            try {
                Tensor seed(Shape{offset[i + 1] - offset[i], out}, std::vector<double>(g + offset[i] * out, g + offset[i + 1] * out));
                backward(outputs[i], std::move(seed));
            } catch (...) {
                failed[i] = std::current_exception();
            }
        }
        for (const auto& e : failed)
            if (e) std::rethrow_exception(e);
        Node& X = *self.parents[0];
        if (!X.requires_grad) return;
        double* gx = X.grad_buffer().data();
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            if (!inputs[i].defined() || inputs[i].grad().empty()) continue;
            const double* gi = inputs[i].grad().data();
            for (std::size_t j = 0; j < rows[i].size(); ++j) {
                double* dst = gx + rows[i][j] * dim;
                const double* src = gi + static_cast<std::int64_t>(j) * dim;
                for (std::int64_t c = 0; c < dim; ++c) dst[c] += src[c];
            }
        }
    };
    return make_result(std::move(stacked), "expert_mlps", std::move(parents), std::move(backward_fn));
}

}  // namespace

MoELayer MoELayer::create(ParamRegistry& params, const std::string& name, const MoELayerConfig& c, const Rng& rng) {
    if (c.expert_hidden < 0)
        throw ConfigError("expert-hidden", "must be >= 0 (0 = linear experts), got " + std::to_string(c.expert_hidden));
    MoELayer layer;
    layer.router = Router::create(params, join_name(name, "router"), c.dim, c.experts, c.top_k, c.gate, c.noisy, rng);
    for (std::int64_t i = 0; i < c.experts; ++i) {
        std::vector<std::int64_t> sizes{c.dim};
        if (c.expert_hidden > 0) sizes.push_back(c.expert_hidden);
        sizes.push_back(c.out);
        layer.experts.push_back(
            MLP::create(params, join_name(name, "experts." + std::to_string(i)), sizes, rng, c.dropout));
    }
    layer.capacity_factor = c.capacity_factor;
    return layer;
}

Dispatch dispatch(const Routing& routing, std::int64_t experts) {
    Dispatch d;
    d.rows.resize(static_cast<std::size_t>(experts));
    d.slots.resize(static_cast<std::size_t>(experts));
    const std::int64_t rows = routing.rows(), k = routing.k;
    for (std::int64_t b = 0; b < rows; ++b)
        for (std::int64_t j = 0; j < k; ++j) {
            const std::int64_t slot = b * k + j;
            if (!routing.kept[static_cast<std::size_t>(slot)]) continue;
            const auto e = static_cast<std::size_t>(routing.expert[static_cast<std::size_t>(slot)]);
            d.rows[e].push_back(b);
            d.slots[e].push_back(slot);
        }
    return d;
}

MoEOutput MoELayer::forward(const Var& x, bool training, const Rng& rng, const RoutingControl& control) const {
    MoEOutput out;
    if (control.frozen) {
        const Routing& f = *control.frozen;
        if (f.rows() != x.shape()[0])
            throw ShapeError("moe: frozen routing has " + std::to_string(f.rows()) + " rows, input " + x.shape().str());
        out.routing = f;
        // Constants: no gradient reaches the router through a frozen decision.
        out.routing.logits = Var(f.logits.value());
        out.routing.probs = Var(f.probs.value());
        out.routing.gates = Var(f.gates.value());
    } else {
        out.routing = router.route(x, training, rng.split("router_noise"), control);
    }
    const std::int64_t E = static_cast<std::int64_t>(experts.size());
    // Capacity limits training only (capacity.hpp): at inference a row's output must not depend on its batch.
    out.dropped = training ? apply_capacity(out.routing, E, capacity_factor) : 0;
    const Dispatch d = dispatch(out.routing, E);
    // Each expert's rows are gathered and run as one batch; weighted_index_add then adds every expert's
    // gated output into its rows in expert order, in one pass over one output buffer.
    std::vector<Var> expert_out;
    std::vector<std::vector<std::int64_t>> expert_rows, expert_slots;
    std::vector<Tensor> inference_out;
    const bool dropout = training && !experts.empty() && experts.front().dropout_p > 0.0;
    const bool inference = !grad_enabled() && !dropout && expert_outputs_no_grad(experts, x.value(), d, inference_out);
    const std::int64_t rows = out.routing.rows();
    if (inference) {
        for (std::int64_t i = 0; i < E; ++i) {
            if (d.rows[static_cast<std::size_t>(i)].empty()) continue;
            expert_out.emplace_back(std::move(inference_out[static_cast<std::size_t>(i)]));
            expert_rows.push_back(d.rows[static_cast<std::size_t>(i)]);
            expert_slots.push_back(d.slots[static_cast<std::size_t>(i)]);
        }
    } else {
        // One stacked part whose rows are the experts' in expert order: weighted_index_add adds a row's
        // contributions in the same order as with one part per expert.
        expert_rows.emplace_back();
        expert_slots.emplace_back();
        for (std::int64_t i = 0; i < E; ++i) {
            const auto& r = d.rows[static_cast<std::size_t>(i)];
            const auto& sl = d.slots[static_cast<std::size_t>(i)];
            expert_rows[0].insert(expert_rows[0].end(), r.begin(), r.end());
            expert_slots[0].insert(expert_slots[0].end(), sl.begin(), sl.end());
        }
        if (expert_rows[0].empty()) {   // every slot dropped by capacity: the output is zeros
            expert_rows.clear();
            expert_slots.clear();
        } else {
            expert_out.push_back(stacked_expert_outputs(experts, x, d, training, rng));
        }
    }
    Var y = expert_out.empty() ? Var(Tensor(Shape{rows, out_dim()}, 0.0))
                               : weighted_index_add(rows, expert_out, expert_rows, out.routing.gates, expert_slots);
    out.y = y;
    return out;
}

}  // namespace moelab
