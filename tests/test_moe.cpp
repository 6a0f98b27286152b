// The MoE layer and models: forward against a naive per-sample loop, gradients through routing and
// gates, the E=1 reduction, auxiliary losses by hand, capacity dropping, baselines, determinism.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>

#include "engine/config_error.hpp"
#include "engine/parallel.hpp"
#include "experiments/io/config_keys.hpp"
#include "moe/aux_losses.hpp"
#include "moe/model.hpp"
#include "tests/gradcheck.hpp"

using namespace moelab;
using moelab::testing::gradcheck;
using moelab::testing::random_tensor;

namespace {

MoELayer make_layer(ParamRegistry& params, std::int64_t E, std::int64_t k, GateMode mode, std::int64_t hidden = 5,
                    double capacity = 0.0) {
    return MoELayer::create(params, "moe", {.dim = 4, .out = 3, .expert_hidden = hidden, .experts = E, .top_k = k, .gate = mode,
                                            .capacity_factor = capacity}, Rng(3));
}

// F(x_b) = sum_i g_i(x_b) e_i(x_b), one sample at a time, straight from docs/theory.md's definition.
Tensor naive_moe(const MoELayer& layer, const Tensor& x, GateMode mode, std::int64_t k) {
    NoGradGuard no_grad;
    const std::int64_t B = x.rows(), d = x.cols(), E = static_cast<std::int64_t>(layer.experts.size());
    Tensor out(Shape{B, layer.out_dim()}, 0.0);
    for (std::int64_t b = 0; b < B; ++b) {
        Var xb(Tensor(Shape{1, d}, std::vector<double>(x.data() + b * d, x.data() + (b + 1) * d)));
        const Tensor s = layer.router.proj.forward(xb).value();
        std::vector<std::int64_t> order(static_cast<std::size_t>(E));
        for (std::int64_t i = 0; i < E; ++i) order[static_cast<std::size_t>(i)] = i;
        std::stable_sort(order.begin(), order.end(), [&](auto p, auto q) { return s[p] > s[q]; });
        const std::int64_t kk = mode == GateMode::soft ? E : k;
        double z_all = 0.0, z_top = 0.0;
        for (std::int64_t i = 0; i < E; ++i) z_all += std::exp(s[i]);
        for (std::int64_t j = 0; j < kk; ++j) z_top += std::exp(s[order[static_cast<std::size_t>(j)]]);
        for (std::int64_t j = 0; j < kk; ++j) {
            const std::int64_t i = order[static_cast<std::size_t>(j)];
            const double g = std::exp(s[i]) / (mode == GateMode::topk_then_softmax ? z_top : z_all);
            const Tensor y = layer.experts[static_cast<std::size_t>(i)].forward(xb).value();
            for (std::int64_t c = 0; c < y.numel(); ++c) out.at(b, c) += g * y[c];
        }
    }
    return out;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    double m = 0.0;
    for (std::int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(moe)

BOOST_AUTO_TEST_CASE(moe_forward_equals_a_naive_per_sample_loop) {
    for (GateMode mode : {GateMode::softmax_then_topk, GateMode::topk_then_softmax, GateMode::soft})
        for (std::int64_t k : {1, 2, 3}) {
            ParamRegistry params;
            const MoELayer layer = make_layer(params, 4, k, mode);
            const Tensor x = random_tensor({37, 4}, 40 + static_cast<std::uint64_t>(k), -2, 2);
            const Tensor y = layer.forward(Var(x), false, Rng(0)).y.value();
            BOOST_TEST(max_abs_diff(y, naive_moe(layer, x, mode, k)) < 1e-13);
        }
}

BOOST_AUTO_TEST_CASE(with_one_expert_and_top1_the_moe_is_exactly_its_expert) {
    ParamRegistry params;
    const MoELayer layer = make_layer(params, 1, 1, GateMode::softmax_then_topk);
    const Tensor x = random_tensor({9, 4}, 41);
    const Tensor y = layer.forward(Var(x), false, Rng(0)).y.value();
    BOOST_TEST(y.bitwise_equal(layer.experts[0].forward(Var(x)).value()));
}

BOOST_AUTO_TEST_CASE(gradients_flow_through_routing_gates_and_experts) {
    for (GateMode mode : {GateMode::softmax_then_topk, GateMode::topk_then_softmax, GateMode::soft}) {
        ParamRegistry params;
        const MoELayer layer = make_layer(params, 3, 2, mode);
        // Input gradient: routing is locally constant (no ties within h of these points).
        BOOST_TEST(gradcheck([&](auto& v) { return layer.forward(v[0], false, Rng(0)).y; },
                             {random_tensor({6, 4}, 42)}) < 1e-6);
        // Parameter gradients, router and experts alike: perturb each parameter in place.
        const Tensor x = random_tensor({6, 4}, 43);
        const Tensor w = random_tensor({6, 3}, 44);
        auto objective = [&] {
            const Tensor y = layer.forward(Var(x), false, Rng(0)).y.value();
            double s = 0;
            for (std::int64_t i = 0; i < y.numel(); ++i) s += w[i] * y[i];
            return s;
        };
        params.zero_grad();
        backward(layer.forward(Var(x), false, Rng(0)).y, w);
        double worst = 0.0;
        for (const auto& p : params.all()) {
            Var var = p.var;   // a handle: writes reach the registry's tensor
            Tensor& value = var.value();
            const Tensor grad = var.grad();
            BOOST_REQUIRE_MESSAGE(!grad.empty(), p.name << " received no gradient");
            for (std::int64_t i = 0; i < value.numel(); ++i) {
                const double keep = value[i];
                value[i] = keep + 1e-5;
                const double up = objective();
                value[i] = keep - 1e-5;
                const double down = objective();
                value[i] = keep;
                const double numeric = (up - down) / 2e-5;
                worst = std::max(worst, std::fabs(numeric - grad[i]) / std::max({1.0, std::fabs(numeric)}));
            }
        }
        BOOST_TEST(worst < 1e-6);
    }
}

BOOST_AUTO_TEST_CASE(topk_then_softmax_gates_sum_to_one) {
    ParamRegistry params;
    const MoELayer layer = make_layer(params, 5, 3, GateMode::topk_then_softmax);
    const Routing r = layer.router.route(Var(random_tensor({8, 4}, 45)), false, Rng(0));
    for (std::int64_t b = 0; b < 8; ++b) {
        double s = 0;
        for (std::int64_t j = 0; j < 3; ++j) s += r.gates.value().at(b, j);
        BOOST_TEST(std::fabs(s - 1.0) < 1e-15);
    }
}

BOOST_AUTO_TEST_CASE(load_balancing_loss_equals_hand_computed_values) {
    // Two rows, E = 2, k = 2: probs rows (0.75, 0.25) and (0.4, 0.6); top-1 experts 0 and 1.
    Routing r;
    r.logits = Var(Tensor(Shape{2, 2}, {std::log(3.0), 0.0, 0.0, std::log(1.5)}));
    r.probs = softmax(r.logits);
    r.k = 2;
    r.expert = {0, 1, 1, 0};
    // P = (0.575, 0.425). top1: f = (1/2, 1/2) -> L = 2 * (0.5*0.575 + 0.5*0.425) = 1.
    BOOST_TEST(std::fabs(load_balancing_loss(r, 2, BalanceConvention::top1).value().item() - 1.0) < 1e-15);
    // Skewed: both rows pick expert 0 first. f = (1, 0): L = 2 * 0.575 = 1.15.
    r.expert = {0, 1, 0, 1};
    BOOST_TEST(std::fabs(load_balancing_loss(r, 2, BalanceConvention::top1).value().item() - 1.15) < 1e-15);
    // all-picks counts both picks of each row: f = (1/2, 1/2) -> 1.
    BOOST_TEST(std::fabs(load_balancing_loss(r, 2, BalanceConvention::all_picks).value().item() - 1.0) < 1e-15);
    // z-loss: mean of logsumexp^2 = (log 4)^2 / 2 + (log 2.5)^2 / 2.
    const double z = 0.5 * (std::pow(std::log(4.0), 2) + std::pow(std::log(2.5), 2));
    BOOST_TEST(std::fabs(router_z_loss(r.logits).value().item() - z) < 1e-15);
}

BOOST_AUTO_TEST_CASE(capacity_drops_slots_in_the_documented_order) {
    // Capacity factor 0.5 with B = 4, k = 1, E = 2: C = ceil(0.5 * 4 / 2) = 1 per expert.
    ParamRegistry params;
    const MoELayer layer = make_layer(params, 2, 1, GateMode::softmax_then_topk, 5, 0.5);
    const Tensor x = random_tensor({4, 4}, 46);
    MoEOutput out = layer.forward(Var(x), /*training=*/true, Rng(0));   // capacity limits training only
    Routing r = layer.router.route(Var(x), false, Rng(0));
    std::vector<int> seen(2, 0);
    std::int64_t expect_dropped = 0;
    for (std::int64_t b = 0; b < 4; ++b) {
        const auto e = static_cast<std::size_t>(r.expert[static_cast<std::size_t>(b)]);
        const bool keep = seen[e]++ < 1;
        expect_dropped += !keep;
        BOOST_TEST(out.routing.kept[static_cast<std::size_t>(b)] == (keep ? 1 : 0));
        if (!keep)   // a dropped row outputs zero
            for (std::int64_t c = 0; c < 3; ++c) BOOST_TEST(out.y.value().at(b, c) == 0.0);
    }
    BOOST_TEST(out.dropped == expect_dropped);
    BOOST_TEST(expert_capacity(1.25, 128, 2, 8) == 40);
    // At inference nothing is dropped: every row gets its expert, whatever the batch.
    const MoEOutput inference = layer.forward(Var(x), /*training=*/false, Rng(0));
    BOOST_TEST(inference.dropped == 0);
    for (std::int64_t b = 0; b < 4; ++b) {
        const Tensor row(Shape{1, 4}, std::vector<double>(x.data() + b * 4, x.data() + (b + 1) * 4));
        const MoEOutput alone = layer.forward(Var(row), false, Rng(0));
        for (std::int64_t c = 0; c < 3; ++c)   // the same up to the GEMM's batch-dependent rounding
            BOOST_TEST(std::fabs(alone.y.value().at(0, c) - inference.y.value().at(b, c)) <= 1e-12);
        double norm = 0.0;
        for (std::int64_t c = 0; c < 3; ++c) norm += std::fabs(inference.y.value().at(b, c));
        BOOST_TEST(norm > 0.0);   // not a dropped (zero) row
    }
}

BOOST_AUTO_TEST_CASE(dense_baselines_match_active_compute_or_total_parameters) {
    ModelConfig moe;
    moe.input_dim = 20;
    moe.classes = 3;
    moe.width = 16;
    moe.hidden = 32;
    moe.experts = 8;
    moe.top_k = 2;
    BOOST_TEST(dense_baseline(moe, BaselineMatch::compute).hidden == 64);
    const Classifier m(moe), p(dense_baseline(moe, parse_baseline_match("params")));
    const double ratio = static_cast<double>(p.params().numel()) / static_cast<double>(m.params().numel());
    BOOST_TEST(std::fabs(ratio - 1.0) < 0.01);
    BOOST_CHECK_THROW(parse_baseline_match("flops"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(bad_model_configs_name_the_key) {
    ModelConfig c;
    c.top_k = 9;
    BOOST_CHECK_EXCEPTION(c.validate(), ConfigError, [](const ConfigError& e) {
        return e.key == "top-k" && cli::user_message(e).rfind("--top-k: ", 0) == 0u;
    });
    BOOST_CHECK_THROW(model_config_from_json({{"experts", 4}, {"bogus", 1}}), std::invalid_argument);
    BOOST_CHECK_THROW(model_config_from_json({{"experts", "four"}}), std::invalid_argument);
    BOOST_TEST(to_json(model_config_from_json(to_json(c = ModelConfig{}))) == to_json(ModelConfig{}));
}

BOOST_AUTO_TEST_CASE(noisy_gating_is_seeded_and_only_active_in_training) {
    ParamRegistry params;
    const MoELayer layer = MoELayer::create(params, "moe", {.dim = 4, .out = 3, .experts = 4, .noisy = true}, Rng(3));
    const Var x(random_tensor({16, 4}, 47));
    const Tensor a = layer.forward(x, true, Rng(1)).routing.logits.value();
    const Tensor b = layer.forward(x, true, Rng(1)).routing.logits.value();
    const Tensor c = layer.forward(x, true, Rng(2)).routing.logits.value();
    const Tensor clean = layer.forward(x, false, Rng(1)).routing.logits.value();
    BOOST_TEST(a.bitwise_equal(b));
    BOOST_TEST(!a.bitwise_equal(c));
    BOOST_TEST(clean.bitwise_equal(layer.router.proj.forward(x).value()));
}

BOOST_AUTO_TEST_CASE(dual_model_interpolates_the_two_models_probabilities) {
    ModelConfig c;
    c.input_dim = 6;
    c.classes = 3;
    c.width = 8;
    c.hidden = 8;
    c.experts = 2;
    c.top_k = 1;
    const Classifier s(c);
    c.seed = 2;
    const Classifier r(c);
    const Var x(random_tensor({5, 6}, 48));
    const Tensor d0 = dual_forward(s, r, 0.0, x).value(), d1 = dual_forward(s, r, 1.0, x).value();
    BOOST_TEST(max_abs_diff(d0, softmax(s.forward(x).logits).value()) < 1e-15);
    BOOST_TEST(max_abs_diff(d1, softmax(r.forward(x).logits).value()) < 1e-15);
    BOOST_CHECK_THROW(dual_forward(s, r, 1.5, x), std::invalid_argument);
}

// Inference runs the experts' row blocks in one parallel loop (moe_layer.cpp); it must give the bits of
// the graph path (the forward with gradient recording), at any thread count. 3000 rows over 8 experts
// cut each expert's GEMMs into several row blocks; capacity drops some slots, and an expert may get none.
BOOST_AUTO_TEST_CASE(inference_path_gives_the_bits_of_the_graph_path_at_1_2_and_4_threads) {
    ParamRegistry params;
    const MoELayer layer = MoELayer::create(
        params, "moe", {.dim = 64, .out = 32, .expert_hidden = 256, .experts = 8, .top_k = 2, .capacity_factor = 1.1}, Rng(9));
    const Tensor x = random_tensor({3000, 64}, 77);
    const Tensor graph = layer.forward(Var(x, true), /*training=*/true, Rng(1)).y.value();   // capacity: training only
    const int before = max_threads();
    for (int t : {1, 2, 4}) {
        set_threads(t);
        NoGradGuard no_grad;
        const MoEOutput out = layer.forward(Var(x), true, Rng(1));
        BOOST_TEST(out.dropped > 0);
        BOOST_TEST(out.y.value().bitwise_equal(graph), "threads " << t);
    }
    set_threads(before);
    double norm = 0.0;
    for (std::int64_t i = 0; i < graph.numel(); ++i) norm += std::fabs(graph[i]);
    BOOST_TEST(norm > 1.0);   // a real output, not zeros
}

// With gradients on, the experts run as one graph node that forwards and differentiates them in parallel
// (moe/moe_layer.cpp). It must give what the op-by-op graph gives (index_select, the expert MLP,
// weighted_index_add): the same output and parameter gradients bit for bit, the same input gradient up to
// the order in which two experts' contributions to one row are added; and the same bits at 1, 2 and 4
// threads, dropout included. The routing is frozen so that only the experts see the input.
BOOST_AUTO_TEST_CASE(parallel_expert_node_matches_the_op_by_op_graph_and_the_thread_count) {
    ParamRegistry params;
    const MoELayer layer = MoELayer::create(params, "moe", {.dim = 16, .out = 8, .expert_hidden = 24, .experts = 6, .top_k = 2}, Rng(5));
    const Tensor x = random_tensor({300, 16}, 78);
    const Tensor seed = random_tensor({300, 8}, 79);
    const Routing routing = layer.forward(Var(x), false, Rng(0)).routing;
    RoutingControl frozen;
    frozen.frozen = &routing;
    auto grads = [&](const Var& xv) {
        std::vector<Tensor> g;
        for (const auto& p : params.all()) g.push_back(Var(p.var).grad());
        g.push_back(xv.grad());
        return g;
    };
    // The op-by-op graph.
    params.zero_grad();
    Var x_ref(x, true);
    const Dispatch d = dispatch(routing, 6);
    std::vector<Var> parts;
    std::vector<std::vector<std::int64_t>> rows, slots;
    for (std::size_t i = 0; i < 6; ++i) {
        if (d.rows[i].empty()) continue;
        parts.push_back(layer.experts[i].forward(index_select(x_ref, d.rows[i])));
        rows.push_back(d.rows[i]);
        slots.push_back(d.slots[i]);
    }
    const Var y_ref = weighted_index_add(300, parts, rows, Var(routing.gates.value()), slots);
    backward(y_ref, seed);
    const std::vector<Tensor> ref = grads(x_ref);
    BOOST_REQUIRE(rows.size() >= 4u);
    // The layer, at 1, 2 and 4 threads.
    const int before = max_threads();
    std::vector<Tensor> first;
    for (int t : {1, 2, 4}) {
        set_threads(t);
        params.zero_grad();
        Var xv(x, true);
        const Var y = layer.forward(xv, false, Rng(0), frozen).y;
        BOOST_TEST(y.value().bitwise_equal(y_ref.value()), "threads " << t);
        backward(y, seed);
        const std::vector<Tensor> g = grads(xv);
        for (std::size_t p = 0; p + 1 < g.size(); ++p)
            BOOST_TEST(g[p].bitwise_equal(ref[p]), params.all()[p].name << ", threads " << t);
        BOOST_TEST(max_abs_diff(g.back(), ref.back()) <= 1e-14, "input gradient, threads " << t);
        if (first.empty()) first = g;
        BOOST_TEST(g.back().bitwise_equal(first.back()), "input gradient, threads " << t << " vs 1");
    }
    // Dropout inside the experts: the same bits at every thread count.
    ParamRegistry dparams;
    const MoELayer drop = MoELayer::create(
        dparams, "moe", {.dim = 16, .out = 8, .expert_hidden = 24, .experts = 6, .top_k = 2, .dropout = 0.3}, Rng(5));
    std::vector<Tensor> drop_first;
    for (int t : {1, 2, 4}) {
        set_threads(t);
        dparams.zero_grad();
        Var xv(x, true);
        backward(drop.forward(xv, true, Rng(11)).y, seed);
        std::vector<Tensor> g;
        for (const auto& p : dparams.all()) g.push_back(Var(p.var).grad());
        g.push_back(xv.grad());
        if (drop_first.empty()) drop_first = g;
        for (std::size_t p = 0; p < g.size(); ++p) BOOST_TEST(g[p].bitwise_equal(drop_first[p]), "dropout, threads " << t);
    }
    set_threads(before);
}

// swap_layer confines P1's expert swap to one MoE layer: that layer's rank-0 expert becomes its third-ranked one
// (from its own router scores), the rank-1 expert stays, and the layers before it route as without the swap.
BOOST_AUTO_TEST_CASE(a_swap_confined_to_one_layer_changes_that_layer_only) {
    ModelConfig c;
    c.input_dim = 6;
    c.classes = 3;
    c.width = 5;
    c.depth = 2;
    c.hidden = 4;
    c.experts = 4;
    c.top_k = 2;
    Classifier model(c);
    const Tensor x = random_tensor(Shape{30, 6}, 7, -1.0, 1.0);
    NoGradGuard no_grad;
    const ModelOutput clean = model.forward(Var(x));
    ForwardOptions o;
    o.swap_rank = 0;
    o.swap_layer = 1;
    const ModelOutput swapped = model.forward(Var(x), o);
    BOOST_TEST(swapped.routings[0].expert == clean.routings[0].expert);
    const Tensor& s = clean.routings[1].logits.value();
    for (std::int64_t b = 0; b < 30; ++b) {
        std::vector<std::int64_t> order{0, 1, 2, 3};
        std::stable_sort(order.begin(), order.end(), [&](auto p, auto q) { return s.at(b, p) > s.at(b, q); });
        BOOST_TEST(swapped.routings[1].expert[static_cast<std::size_t>(2 * b)] == order[2]);
        BOOST_TEST(swapped.routings[1].expert[static_cast<std::size_t>(2 * b + 1)] == order[1]);
    }
    BOOST_TEST(max_abs_diff(swapped.logits.value(), clean.logits.value()) > 1e-6);
    o.swap_layer = 0;   // the first layer's swap changes what the second sees: its routing is its own
    const ModelOutput first = model.forward(Var(x), o);
    o.swap_layer = -1;
    const ModelOutput every = model.forward(Var(x), o);
    BOOST_TEST(first.routings[0].expert == every.routings[0].expert);
    BOOST_TEST(first.routings[1].expert != every.routings[1].expert);
}

BOOST_AUTO_TEST_SUITE_END()
