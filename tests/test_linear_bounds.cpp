// The linear bounds (theory/bounds/linear_bounds.hpp: crown-ibp, full crown, alpha-crown) on random small
// models of every form moelab builds: dense, layer-level MoE blocks and model-level MoEs, top-1 and top-2, each
// gate form, two MoE blocks, 2-D and 5-D inputs. Checked against dense sampling of the region (corners
// included) with a forward pass written here, against the exact MILP where it is exact, against each other
// where an ordering is a theorem, and the hand-written gradient of alpha-CROWN against finite differences.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <vector>

#include "engine/parallel.hpp"
#include "engine/rng.hpp"
#include "tests/gradcheck.hpp"
#include "theory/bounds/alpha_crown.hpp"
#include "theory/bounds/ibp.hpp"
#include "theory/bounds/linear_bounds.hpp"
#include "theory/check/checker.hpp"
#include "theory/exact/exact.hpp"

using namespace moelab;
using moelab::testing::random_tensor;

namespace {

// Consecutive draws of the counter-based generator.
struct Stream {
    Rng rng;
    std::uint64_t next = 0;
    double uniform() { return rng.uniform(next++); }
    double normal() { return rng.normal(next++); }
};

// ---- a forward pass of the Network written here, recording what the bounds speak about ----

struct Trace {
    std::vector<double> logits;
    std::vector<Selection> selections;                                 // per MoE stage
    std::map<std::tuple<int, int, int>, std::vector<double>> relu_in;   // (stage, expert, index) -> ReLU input
};

std::vector<double> affine(const AffineMap& m, const std::vector<double>& x) {
    std::vector<double> y(static_cast<std::size_t>(m.out()));
    for (std::int64_t r = 0; r < m.out(); ++r) {
        double s = m.b[r];
        for (std::int64_t c = 0; c < m.in(); ++c) s += m.weight(r, c) * x[static_cast<std::size_t>(c)];
        y[static_cast<std::size_t>(r)] = s;
    }
    return y;
}

std::vector<double> relu(std::vector<double> v, Trace& t, std::tuple<int, int, int> key) {
    t.relu_in[key] = v;
    for (double& a : v) a = std::max(0.0, a);
    return v;
}

std::vector<double> chain(const MapChain& c, std::vector<double> x, Trace& t, int stage, int expert) {
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (i > 0) x = relu(std::move(x), t, {stage, expert, static_cast<int>(i) - 1});
        x = affine(c[i], x);
    }
    return x;
}

std::vector<double> moe(const MoEStage& m, const std::vector<double>& x, Trace& t, int stage) {
    const std::vector<double> s = affine(m.router, x);
    const std::int64_t E = m.experts_count();
    Selection sel;
    if (m.gate == GateMode::soft) {
        for (std::int64_t i = 0; i < E; ++i) sel.push_back(i);
    } else {
        std::vector<std::int64_t> order(static_cast<std::size_t>(E));
        for (std::int64_t i = 0; i < E; ++i) order[static_cast<std::size_t>(i)] = i;
        std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return s[static_cast<std::size_t>(a)] > s[static_cast<std::size_t>(b)]; });
        sel.assign(order.begin(), order.begin() + m.k);
        std::sort(sel.begin(), sel.end());
    }
    t.selections.push_back(sel);
    double mx = *std::max_element(s.begin(), s.end()), z_all = 0.0, z_sel = 0.0;
    for (std::int64_t i = 0; i < E; ++i) z_all += std::exp(s[static_cast<std::size_t>(i)] - mx);
    for (auto i : sel) z_sel += std::exp(s[static_cast<std::size_t>(i)] - mx);
    std::vector<double> y;
    std::vector<std::vector<double>> outs;   // every expert (their ReLU inputs are bounded too)
    for (std::int64_t i = 0; i < E; ++i) outs.push_back(chain(m.experts[static_cast<std::size_t>(i)], x, t, stage, static_cast<int>(i)));
    for (auto i : sel) {
        const std::vector<double>& e = outs[static_cast<std::size_t>(i)];
        if (y.empty()) y.assign(e.size(), 0.0);
        const double g = std::exp(s[static_cast<std::size_t>(i)] - mx) / (m.gate == GateMode::topk_then_softmax ? z_sel : z_all);
        for (std::size_t c = 0; c < e.size(); ++c) y[c] += g * e[c];
    }
    return y;
}

Trace trace(const Network& net, std::vector<double> x) {
    Trace t;
    for (std::size_t i = 0; i < net.stages.size(); ++i) {
        const Stage& s = net.stages[i];
        const int si = static_cast<int>(i);
        switch (s.kind) {
            case Stage::Kind::affine: x = affine(s.map, x); break;
            case Stage::Kind::relu: x = relu(std::move(x), t, {si, -1, 0}); break;
            case Stage::Kind::chain: x = chain(s.chain, std::move(x), t, si, -1); break;
            case Stage::Kind::moe: x = moe(s.moe, x, t, si); break;
        }
    }
    t.logits = x;
    return t;
}

// ---- random models and regions ----

std::vector<ModelConfig> model_zoo(std::int64_t d) {
    ModelConfig base;
    base.input_dim = d, base.classes = 3, base.width = 6, base.hidden = 5, base.experts = 4, base.top_k = 2, base.depth = 1;
    std::vector<ModelConfig> out;
    ModelConfig c = base;
    c.kind = ModelKind::mlp, c.depth = 2;
    out.push_back(c);
    for (GateMode g : {GateMode::softmax_then_topk, GateMode::topk_then_softmax, GateMode::soft})
        for (std::int64_t k : {1, 2}) {
            if (g == GateMode::soft && k == 2) continue;
            c = base;
            c.kind = ModelKind::moe, c.gate = g, c.top_k = k;
            out.push_back(c);
            c.kind = ModelKind::moe_model;
            c.hidden = k == 1 ? 0 : 4;   // linear experts and MLP experts
            out.push_back(c);
        }
    c = base;   // two MoE blocks, E = 3
    c.kind = ModelKind::moe, c.depth = 2, c.experts = 3, c.top_k = 2;
    out.push_back(c);
    c.gate = GateMode::topk_then_softmax, c.top_k = 1;
    out.push_back(c);
    return out;
}

Network random_network(ModelConfig c, std::uint64_t seed) {
    c.seed = seed;
    Classifier model(c);
    // Larger biases and router weights than the initialisation, so that routes switch inside small regions.
    Network net = network_of(model);
    for (Stage& s : net.stages)
        if (s.kind == Stage::Kind::moe)
            for (std::int64_t i = 0; i < s.moe.router.w.numel(); ++i) s.moe.router.w[i] *= 3.0;
    return net;
}

std::vector<std::vector<double>> sample_region(const InputRegion& reg, std::uint64_t seed, int n) {
    const std::size_t d = reg.lo.size();
    std::vector<std::vector<double>> pts;
    Stream rng{Rng(seed)};
    if (!reg.has_l2 && d <= 5)
        for (std::size_t mask = 0; mask < (std::size_t{1} << d); ++mask) {
            std::vector<double> p(d);
            for (std::size_t i = 0; i < d; ++i) p[i] = (mask >> i) & 1 ? reg.hi[i] : reg.lo[i];
            pts.push_back(p);
        }
    for (int s = 0; s < n; ++s) {
        std::vector<double> p(d);
        if (reg.has_l2) {
            double norm = 0.0;
            for (std::size_t i = 0; i < d; ++i) {
                p[i] = rng.normal();
                norm += p[i] * p[i];
            }
            const double scale = reg.l2_radius * std::pow(rng.uniform(), 1.0 / static_cast<double>(d)) / std::sqrt(norm);
            for (std::size_t i = 0; i < d; ++i) p[i] = std::clamp(reg.center[i] + scale * p[i], reg.lo[i], reg.hi[i]);
        } else {
            for (std::size_t i = 0; i < d; ++i) p[i] = reg.lo[i] + (reg.hi[i] - reg.lo[i]) * rng.uniform();
        }
        pts.push_back(p);
    }
    return pts;
}

int predicted(const std::vector<double>& logits) {
    return static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

LinearBoundOptions options_of(LinearMethod m) {
    LinearBoundOptions o;
    o.method = m;
    o.details = true;
    o.alpha_iterations = 8;
    return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(linear_bounds)

// Every margin bound below the smallest sampled margin, and every route's ReLU bounds around the ReLU inputs
// of the sampled points that take that route: all three methods, both norms, every model form.
BOOST_AUTO_TEST_CASE(margin_and_intermediate_bounds_hold_at_sampled_points) {
    std::int64_t checked = 0, contained = 0, multi_route = 0;
    for (std::int64_t d : {2, 5})
        for (const ModelConfig& cfg : model_zoo(d))
            for (std::uint64_t seed : {1, 2}) {
                const Network net = random_network(cfg, seed + 10 * static_cast<std::uint64_t>(d));
                const LinearBounder bounder(net);
                const Tensor x0 = random_tensor(Shape{d}, seed + 5, -1.0, 1.0);
                const int y = predicted(trace(net, x0.vec()).logits);
                for (Norm norm : {Norm::linf, Norm::l2})
                    for (double r : {0.05, 0.3}) {
                        const InputRegion reg = norm_ball_region(x0.data(), d, r, norm, Box{});
                        const auto pts = sample_region(reg, seed * 31 + static_cast<std::uint64_t>(r * 100), 300);
                        std::vector<Trace> traces;
                        for (const auto& p : pts) traces.push_back(trace(net, p));
                        for (LinearMethod m : {LinearMethod::crown_ibp, LinearMethod::crown, LinearMethod::alpha_crown}) {
                            const MarginBounds mb = bounder.margin_bounds(reg, y, options_of(m));
                            multi_route += mb.routes.size() > 1;
                            for (const Trace& t : traces)
                                for (std::int64_t j = 0; j < net.classes; ++j) {
                                    if (j == y) continue;
                                    const double margin = t.logits[static_cast<std::size_t>(y)] - t.logits[static_cast<std::size_t>(j)];
                                    BOOST_TEST_REQUIRE(mb.lower[static_cast<std::size_t>(j)] <= margin,
                                                       "kind " << to_string(cfg.kind) << " gate " << to_string(cfg.gate) << " k " << cfg.top_k
                                                               << " d " << d << " method " << static_cast<int>(m) << " r " << r << " bound "
                                                               << mb.lower[static_cast<std::size_t>(j)] << " > sampled " << margin);
                                    ++checked;
                                }
                            // ReLU bounds of the route each point takes (the route with its selections, none relaxed).
                            for (const RouteBounds& route : mb.routes) {
                                if (std::count(route.relaxed.begin(), route.relaxed.end(), 1) > 0) continue;
                                for (const Trace& t : traces) {
                                    if (t.selections != route.selections) continue;
                                    for (const ReluLayerBounds& rb : route.relus) {
                                        const auto& v = t.relu_in.at({rb.layer.stage, rb.layer.expert, rb.layer.index});
                                        for (std::size_t u = 0; u < v.size(); ++u)
                                            BOOST_TEST_REQUIRE((rb.lo[u] <= v[u] && v[u] <= rb.hi[u]), "ReLU bound misses a sampled value");
                                        ++contained;
                                    }
                                }
                            }
                        }
                    }
            }
    BOOST_TEST_MESSAGE(checked << " margins and " << contained << " ReLU layers checked; " << multi_route << " runs with several routes");
    BOOST_TEST(multi_route > 20);   // routes do switch inside the regions tested
}

// alpha-CROWN starts at CROWN's parameters and keeps its best bound: never below CROWN, class by class. Full
// CROWN's ReLU bounds (intervals intersected with back-substitution) lie inside CROWN-IBP's on the same route.
BOOST_AUTO_TEST_CASE(alpha_never_below_crown_and_crown_intermediates_inside_crown_ibp) {
    std::int64_t tighter = 0, compared = 0;
    for (const ModelConfig& cfg : model_zoo(4))
        for (std::uint64_t seed : {3, 4}) {
            const Network net = random_network(cfg, seed);
            const LinearBounder bounder(net);
            const Tensor x0 = random_tensor(Shape{4}, seed + 8, -1.0, 1.0);
            const int y = predicted(trace(net, x0.vec()).logits);
            const InputRegion reg = norm_ball_region(x0.data(), 4, 0.1, Norm::linf, Box{});
            const MarginBounds ibp = bounder.margin_bounds(reg, y, options_of(LinearMethod::crown_ibp));
            const MarginBounds crown = bounder.margin_bounds(reg, y, options_of(LinearMethod::crown));
            const MarginBounds alpha = bounder.margin_bounds(reg, y, options_of(LinearMethod::alpha_crown));
            for (std::size_t j = 0; j < crown.lower.size(); ++j) {
                BOOST_TEST(alpha.lower[j] >= crown.lower[j]);
                tighter += alpha.lower[j] > crown.lower[j];
            }
            for (const RouteBounds& rc : crown.routes)
                for (const RouteBounds& ri : ibp.routes) {
                    if (rc.selections != ri.selections || rc.relaxed != ri.relaxed) continue;
                    for (const ReluLayerBounds& a : rc.relus)
                        for (const ReluLayerBounds& b : ri.relus) {
                            if (!(a.layer == b.layer)) continue;
                            for (std::size_t u = 0; u < a.lo.size(); ++u) {
                                BOOST_TEST(a.lo[u] >= b.lo[u]);
                                BOOST_TEST(a.hi[u] <= b.hi[u]);
                                ++compared;
                            }
                        }
                }
        }
    BOOST_TEST_MESSAGE(tighter << " margins strictly tighter by alpha; " << compared << " ReLU units compared");
    BOOST_TEST(compared > 100);
    BOOST_TEST(tighter > 0);
}

// The gradient alpha-CROWN climbs, written by hand (the relaxed network run forward at the minimiser),
// against central differences of the bound in each parameter.
BOOST_AUTO_TEST_CASE(alpha_gradient_matches_finite_differences) {
    // A hand-built graph: input -> linear -> relu -> linear -> (gates of a 2-expert softmax) x experts -> head.
    InputRegion reg;
    reg.lo = {-0.4, -0.2, 0.1};
    reg.hi = {0.3, 0.5, 0.6};
    BoundGraph g(reg);
    const auto W = [](std::int64_t o, std::int64_t i, std::uint64_t seed) {
        const Tensor w = random_tensor(Shape{o, i}, seed, -1.0, 1.0), b = random_tensor(Shape{o}, seed + 1, -0.3, 0.3);
        return std::make_shared<const DenseMap>(dense_map(o, i, w.vec(), b.vec()));
    };
    int h = g.add_linear(0, W(6, 3, 1));
    g.refine(h, true);
    h = g.add_relu(h, {1, -1, 0});
    int e0 = g.add_linear(h, W(4, 6, 3)), e1 = g.add_linear(h, W(4, 6, 5));
    g.refine(e0, true);
    e0 = g.add_linear(g.add_relu(e0, {2, 0, 0}), W(3, 4, 7));
    g.refine(e1, true);
    e1 = g.add_linear(g.add_relu(e1, {2, 1, 0}), W(3, 4, 9));
    g.refine(e0, false);
    g.refine(e1, false);
    const int pairs = g.add_linear(h, W(1, 6, 11));
    g.refine(pairs, false);
    DenseMap dm = dense_map(2, 1, {-1.0, 1.0}, {});
    dm.selection_rows = true;
    const int dd = g.add_linear(pairs, std::make_shared<const DenseMap>(std::move(dm)));
    const int ex = g.add_exp(dd);
    const int u = g.add_linear(ex, std::make_shared<const DenseMap>(dense_map(2, 2, {1.0, 0.0, 0.0, 1.0}, {})));
    g.refine(u, false);
    const int gates = g.add_reciprocal(u, {0, 1}, {0, 1}, {0, 0});
    const int y = g.add_gated_sum(gates, {e0, e1});
    const int head = g.add_linear(y, W(3, 3, 13));
    const std::vector<double> lam = {1.0, -1.0, 0.0, 1.0, 0.0, -1.0};
    RelaxParams p = g.default_params(head, 2);
    Stream rng{Rng(5)};
    for (auto& s : p.relu_slope)
        for (double& v : s) v = 0.2 + 0.6 * rng.uniform();
    for (double& v : p.product_beta) v = 0.2 + 0.6 * rng.uniform();
    std::int64_t nonzero = 0;
    for (bool aggregate : {false, true}) {
        BoundGraph::BackwardOptions bo;
        bo.params = &p;
        bo.want_gradient = true;
        bo.aggregate_top_product = aggregate;
        const BackwardResult r = g.lower(head, lam, 2, bo);
        const auto value = [&](const RelaxParams& q) {
            BoundGraph::BackwardOptions b2 = bo;
            b2.params = &q;
            b2.want_gradient = false;
            const auto v = g.lower(head, lam, 2, b2).lower;
            return v[0] + v[1];
        };
        const double step = 1e-6;
        const auto check = [&](double analytic, auto&& set) {
            RelaxParams a = p, b = p;
            set(a, +step);
            set(b, -step);
            const double fd = (value(a) - value(b)) / (2 * step);
            BOOST_TEST(std::abs(fd - analytic) <= 1e-5 * (1.0 + std::abs(fd)), "fd " << fd << " analytic " << analytic);
            nonzero += std::abs(analytic) > 1e-9;
        };
        for (std::size_t n = 0; n < p.relu_slope.size(); ++n)
            for (std::size_t i = 0; i < p.relu_slope[n].size(); ++i) {
                const double analytic = r.gradient.relu_slope[n].empty() ? 0.0 : r.gradient.relu_slope[n][i];
                check(analytic, [&](RelaxParams& q, double dlt) { q.relu_slope[n][i] += dlt; });
            }
        for (std::size_t i = 0; i < p.product_beta.size(); ++i)
            check(r.gradient.product_beta.empty() ? 0.0 : r.gradient.product_beta[i], [&](RelaxParams& q, double dlt) { q.product_beta[i] += dlt; });
    }
    BOOST_TEST(nonzero >= 3);
}

// The routes past max_routes become one relaxed stage (gates bounded below by 0 where an expert may be
// unselected); branch-and-bound constraints (fixed ReLU phases, a fixed selection) bound the sub-region they
// define. Both against the sampled points of what they cover; constraints no point satisfies give +inf.
BOOST_AUTO_TEST_CASE(relaxed_stages_and_constrained_subdomains_hold_at_sampled_points) {
    std::int64_t relaxed_runs = 0, constrained = 0, empty = 0;
    for (const ModelConfig& cfg : model_zoo(3)) {
        if (cfg.kind == ModelKind::mlp || cfg.gate == GateMode::soft) continue;
        for (std::uint64_t seed : {5, 6}) {
            const Network net = random_network(cfg, seed);
            const LinearBounder bounder(net);
            const Tensor x0 = random_tensor(Shape{3}, seed + 21, -1.0, 1.0);
            const int y = predicted(trace(net, x0.vec()).logits);
            const InputRegion reg = norm_ball_region(x0.data(), 3, 0.4, Norm::linf, Box{});
            const auto pts = sample_region(reg, seed + 77, 400);
            std::vector<Trace> traces;
            for (const auto& p : pts) traces.push_back(trace(net, p));
            const auto check_points = [&](const MarginBounds& mb, auto&& covers) {
                for (const Trace& t : traces) {
                    if (!covers(t)) continue;
                    for (std::int64_t j = 0; j < net.classes; ++j)
                        if (j != y)
                            BOOST_TEST_REQUIRE(mb.lower[static_cast<std::size_t>(j)] <=
                                               t.logits[static_cast<std::size_t>(y)] - t.logits[static_cast<std::size_t>(j)]);
                }
            };
            LinearBoundOptions o = options_of(LinearMethod::crown);
            o.max_routes = 1;
            const MarginBounds relaxed = bounder.margin_bounds(reg, y, o);
            for (const RouteBounds& r : relaxed.routes) relaxed_runs += std::count(r.relaxed.begin(), r.relaxed.end(), 1) > 0;
            check_points(relaxed, [](const Trace&) { return true; });
            // Constraints: the first selection of the first MoE stage some point takes, and the phase of the first
            // ReLU's unit 0 at the first point.
            const MarginBounds full = bounder.margin_bounds(reg, y, options_of(LinearMethod::crown));
            DomainConstraints c;
            c.selections.push_back(traces.front().selections.front());
            std::tuple<int, int, int> key{-1, -1, -1};
            bool active = false;
            if (!full.routes.front().relus.empty()) {
                const ReluLayerBounds& first_relu = full.routes.front().relus.front();
                key = std::make_tuple(first_relu.layer.stage, first_relu.layer.expert, first_relu.layer.index);
                active = traces.front().relu_in.at(key)[0] >= 0.0;
                c.relu_splits.push_back({first_relu.layer, 0, active ? ReluPhase::active : ReluPhase::inactive});
            }
            for (LinearMethod m : {LinearMethod::crown, LinearMethod::alpha_crown}) {
                const MarginBounds sub = bounder.margin_bounds(reg, y, options_of(m), c);
                check_points(sub, [&](const Trace& t) {
                    return t.selections.front() == c.selections.front() &&
                           (c.relu_splits.empty() || (t.relu_in.at(key)[0] >= 0.0) == active);
                });
                ++constrained;
            }
            // A selection no point of the region can take: two experts whose scores cannot both be on top.
            DomainConstraints impossible;
            impossible.selections.push_back(Selection{});   // the wrong size: never reachable
            const MarginBounds none = bounder.margin_bounds(reg, y, options_of(LinearMethod::crown), impossible);
            empty += std::isinf(none.lower[static_cast<std::size_t>((y + 1) % 3)]) && none.routes.empty();
        }
    }
    BOOST_TEST(relaxed_runs > 5);
    BOOST_TEST(constrained > 10);
    BOOST_TEST(empty > 10);
}

// The checker with every method on random small softmax-gated models (layer-level top-2 softmax-topk, soft,
// two MoE blocks, model-level top-2): no certificate above a verified attack distance.
BOOST_AUTO_TEST_CASE(checker_finds_no_violation_on_random_softmax_gated_models) {
    std::int64_t samples = 0, crown_positive = 0, crown_over_ibp = 0;
    for (std::uint64_t seed = 0; seed < 6; ++seed) {
        ModelConfig c;
        c.input_dim = 3, c.classes = 3, c.width = 5, c.hidden = 4, c.experts = 3, c.top_k = 2, c.depth = 1, c.seed = 50 + seed;
        c.kind = seed % 4 == 3 ? ModelKind::moe_model : ModelKind::moe;
        c.gate = seed % 4 == 1 ? GateMode::soft : GateMode::softmax_then_topk;
        if (seed % 4 == 2) c.depth = 2;
        const Classifier model(c);
        Dataset data;
        data.x = random_tensor(Shape{4, 3}, 900 + seed, -1.0, 1.0);
        NoGradGuard no_grad;
        const Tensor logits = model.forward(Var(data.x)).logits.value();
        for (std::int64_t i = 0; i < 4; ++i) {
            std::vector<double> row(logits.data() + i * 3, logits.data() + i * 3 + 3);
            data.y.push_back(predicted(row));
        }
        data.num_classes = 3;
        for (Norm norm : {Norm::linf, Norm::l2}) {
            CheckOptions o;
            o.norm = norm;
            o.exact = false;
            o.attack_eps_max = 3.0;
            o.attack_steps = 20;
            const CheckReport rep = run_check(model, data, o);
            BOOST_TEST(rep.violations == 0, "model " << seed);
            for (const CheckRow& r : rep.rows) {
                ++samples;
                crown_positive += r.certified[3] > 0.0;
                crown_over_ibp += r.certified[3] >= r.certified[1];
            }
        }
    }
    BOOST_TEST_MESSAGE("crown certified " << crown_positive << " of " << samples << ", >= ibp on " << crown_over_ibp);
    BOOST_TEST(crown_positive >= samples * 3 / 4);
}

// Radii are the same bits at 1 and 2 threads (rows split in fixed partitions; one row's search alone).
BOOST_AUTO_TEST_CASE(radii_are_bitwise_equal_at_one_and_two_threads) {
    ModelConfig c;
    c.input_dim = 6, c.classes = 3, c.width = 8, c.hidden = 6, c.experts = 4, c.top_k = 2, c.depth = 1, c.seed = 3;
    const Network net = network_of(Classifier(c));
    const Tensor x = random_tensor(Shape{6, 6}, 71, -1.0, 1.0);
    std::vector<int> y;
    for (std::int64_t i = 0; i < 6; ++i) y.push_back(predicted(trace(net, std::vector<double>(x.data() + i * 6, x.data() + i * 6 + 6)).logits));
    const int saved = max_threads();
    for (LinearMethod m : {LinearMethod::crown, LinearMethod::alpha_crown}) {
        LinearBoundOptions o;
        o.method = m;
        set_threads(1);
        const auto one = linear_certified_radii(net, x, y, Norm::linf, Box{}, o, 20);
        set_threads(2);
        const auto two = linear_certified_radii(net, x, y, Norm::linf, Box{}, o, 20);
        for (std::size_t i = 0; i < one.size(); ++i) BOOST_TEST(one[i] == two[i]);
        BOOST_TEST(*std::max_element(one.begin(), one.end()) > 0.0);
    }
    set_threads(saved);
    // A point outside the domain: an empty region, and no radius claimed for it.
    Tensor outside = x;
    outside.at(0, 0) = 1.5;
    LinearBoundOptions o;
    const auto r = linear_certified_radii(net, outside, y, Norm::linf, Box{-1.0, 1.0}, o, 10);
    BOOST_TEST(r[0] == 0.0);
    BOOST_TEST(r[1] > 0.0);
}

BOOST_AUTO_TEST_SUITE_END()
