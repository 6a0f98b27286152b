// A Network as bound graphs, one per reachable route (linear_bounds.hpp): the stages appended in order,
// every node that a relaxation needs bounded first, and at each MoE stage the reachable selections found
// from the router's score differences and followed one by one (depth first, in ascending order).
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "theory/bounds/alpha_crown.hpp"
#include "theory/bounds/linear_bounds.hpp"
#include "theory/network/finite_guard.hpp"

namespace moelab {

// Every map of the network as a DenseMap, and per MoE stage the router's pairwise differences.
struct LinearBounder::Prepared {
    struct MoE {
        std::shared_ptr<const DenseMap> pairs;              // rows s_a - s_b for a < b
        std::vector<std::vector<std::shared_ptr<const DenseMap>>> experts;
    };
    std::vector<std::shared_ptr<const DenseMap>> affine;   // per stage (affine stages)
    std::vector<std::vector<std::shared_ptr<const DenseMap>>> chain;   // per stage (chain stages)
    std::vector<MoE> moe;                                  // per stage (moe stages)
};

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::shared_ptr<const DenseMap> dense_of(const AffineMap& m) {
    return std::make_shared<const DenseMap>(dense_map(m.out(), m.in(), m.w.vec(), m.b.vec()));
}

std::vector<std::shared_ptr<const DenseMap>> chain_of(const MapChain& c) {
    std::vector<std::shared_ptr<const DenseMap>> out;
    for (const AffineMap& m : c) out.push_back(dense_of(m));
    return out;
}

std::shared_ptr<const DenseMap> pair_differences(const AffineMap& router) {
    const std::int64_t E = router.out(), n = router.in();
    std::vector<double> w, b;
    for (std::int64_t a = 0; a < E; ++a)
        for (std::int64_t c = a + 1; c < E; ++c) {
            for (std::int64_t i = 0; i < n; ++i) w.push_back(router.weight(a, i) - router.weight(c, i));
            b.push_back(router.b[a] - router.b[c]);
        }
    return std::make_shared<const DenseMap>(dense_map(E * (E - 1) / 2, n, std::move(w), std::move(b)));
}

std::int64_t pair_row(std::int64_t a, std::int64_t b, std::int64_t E) {   // a < b
    return a * E - a * (a + 1) / 2 + (b - a - 1);
}

// Bounds of s_i - s_j from the pair node.
struct ScoreDifferences {
    const BoundNode* pairs;
    std::int64_t E;
    double lo(std::int64_t i, std::int64_t j) const {
        return i < j ? pairs->lo[static_cast<std::size_t>(pair_row(i, j, E))] : -pairs->hi[static_cast<std::size_t>(pair_row(j, i, E))];
    }
    double hi(std::int64_t i, std::int64_t j) const { return -lo(j, i); }
    // i wins over j (higher score, ties to the lower index) surely / possibly somewhere in the region.
    bool surely_beats(std::int64_t i, std::int64_t j) const { return lo(i, j) > 0.0 || (lo(i, j) >= 0.0 && i < j); }
    bool may_beat(std::int64_t i, std::int64_t j) const { return hi(i, j) >= 0.0; }
};

struct StageRouting {
    std::vector<std::uint8_t> candidate, sure;   // may be selected somewhere / selected everywhere
    std::vector<Selection> selections;           // the reachable k-subsets
};

void enumerate(const ScoreDifferences& s, std::int64_t k, std::int64_t from, Selection& cur, StageRouting& r) {
    if (static_cast<std::int64_t>(cur.size()) == k) {
        for (std::int64_t i : cur)
            for (std::int64_t j = 0; j < s.E; ++j)
                if (std::find(cur.begin(), cur.end(), j) == cur.end() && !s.may_beat(i, j)) return;
        for (std::int64_t j = 0; j < s.E; ++j)
            if (r.sure[static_cast<std::size_t>(j)] && std::find(cur.begin(), cur.end(), j) == cur.end()) return;
        r.selections.push_back(cur);
        return;
    }
    for (std::int64_t e = from; e < s.E; ++e) {
        if (!r.candidate[static_cast<std::size_t>(e)]) continue;
        cur.push_back(e);
        enumerate(s, k, e + 1, cur, r);
        cur.pop_back();
    }
}

// Surely / possibly selected experts, and the selections in which every selected expert may beat every
// unselected one (a point's own selection always is one: its selected scores are >= the others').
StageRouting routing_of(const ScoreDifferences& s, std::int64_t k) {
    StageRouting r;
    r.candidate.assign(static_cast<std::size_t>(s.E), 0);
    r.sure.assign(static_cast<std::size_t>(s.E), 0);
    for (std::int64_t j = 0; j < s.E; ++j) {
        std::int64_t surely = 0, maybe = 0;
        for (std::int64_t i = 0; i < s.E; ++i) {
            if (i == j) continue;
            surely += s.surely_beats(i, j);
            maybe += s.may_beat(i, j);
        }
        r.candidate[static_cast<std::size_t>(j)] = surely < k;
        r.sure[static_cast<std::size_t>(j)] = maybe < k;
    }
    Selection cur;
    enumerate(s, k, 0, cur, r);
    return r;
}

// One route under construction: its graph, the node the next stage reads, what was chosen.
struct Walk {
    BoundGraph g;
    int cur = 0;
    RouteBounds route;
};

class Builder {
public:
    Builder(const Network& net, const LinearBounder::Prepared& prep, const LinearBoundOptions& o, const DomainConstraints& c, int y)
        : net_(net), prep_(prep), o_(o), c_(c), y_(y) {}

    MarginBounds run(const InputRegion& region) {
        Walk w{BoundGraph(region), 0, {}};
        w.g.set_back_substitution(o_.method != LinearMethod::crown_ibp);
        out_.lower.assign(static_cast<std::size_t>(net_.classes), kInf);
        if (w.g.feasible()) stage(std::move(w), 0, 0, 1);
        out_.lower[static_cast<std::size_t>(y_)] = 0.0;
        return std::move(out_);
    }

private:
    const Network& net_;
    const LinearBounder::Prepared& prep_;
    const LinearBoundOptions& o_;
    const DomainConstraints& c_;
    int y_;
    MarginBounds out_;

    bool done() const { return out_.stopped_early; }

    // A ReLU on w.cur: its input bounded (unstable units by back-substitution), clipped by the phase splits.
    void relu(Walk& w, ReluLayerId id) {
        w.g.refine(w.cur, true);
        for (const ReluSplit& s : c_.relu_splits)
            if (s.layer == id)
                s.phase == ReluPhase::active ? w.g.clip(w.cur, s.unit, 0.0, kInf) : w.g.clip(w.cur, s.unit, -kInf, 0.0);
        w.cur = w.g.add_relu(w.cur, id);
    }

    // The chain's maps from node `from` (ReLU between them); w.cur is left as it was.
    int chain(Walk& w, int from, const std::vector<std::shared_ptr<const DenseMap>>& maps, int stage, int expert) {
        const int saved = w.cur;
        int n = from;
        for (std::size_t i = 0; i < maps.size(); ++i) {
            if (i > 0) {
                w.cur = n;
                relu(w, {stage, expert, static_cast<int>(i) - 1});
                n = w.cur;
            }
            n = w.g.add_linear(n, maps[i]);
        }
        w.cur = saved;
        return n;
    }

    void stage(Walk w, std::size_t si, std::size_t moe_index, std::size_t routes) {
        for (; si < net_.stages.size() && w.g.feasible(); ++si) {
            const Stage& s = net_.stages[si];
            switch (s.kind) {
                case Stage::Kind::affine: w.cur = w.g.add_linear(w.cur, prep_.affine[si]); break;
                case Stage::Kind::relu: relu(w, {static_cast<int>(si), -1, 0}); break;
                case Stage::Kind::chain: w.cur = chain(w, w.cur, prep_.chain[si], static_cast<int>(si), -1); break;
                case Stage::Kind::moe: moe(std::move(w), si, moe_index, routes); return;
            }
        }
        if (w.g.feasible()) finish(std::move(w));
    }

    void moe(Walk w, std::size_t si, std::size_t moe_index, std::size_t routes) {
        const MoEStage& m = net_.stages[si].moe;
        const auto& pm = prep_.moe[si];
        const std::int64_t E = m.experts_count();
        if (E == 1) {   // one expert: its gate is 1
            Walk v = std::move(w);
            v.cur = chain(v, v.cur, pm.experts[0], static_cast<int>(si), 0);
            v.route.selections.push_back({0});
            v.route.relaxed.push_back(0);
            stage(std::move(v), si + 1, moe_index + 1, routes);
            return;
        }
        const int pairs = w.g.add_linear(w.cur, pm.pairs);
        w.g.refine(pairs, false);
        const ScoreDifferences sd{&w.g.node(pairs), E};
        StageRouting r;
        if (m.gate == GateMode::soft) {
            r.candidate.assign(static_cast<std::size_t>(E), 1);
            r.sure.assign(static_cast<std::size_t>(E), 1);
            Selection all(static_cast<std::size_t>(E));
            for (std::int64_t i = 0; i < E; ++i) all[static_cast<std::size_t>(i)] = i;
            r.selections = {all};
        } else {
            r = routing_of(sd, m.k);
        }
        const std::optional<Selection>* fixed =
            moe_index < c_.selections.size() && c_.selections[moe_index] ? &c_.selections[moe_index] : nullptr;
        if (fixed) {
            if (std::find(r.selections.begin(), r.selections.end(), **fixed) == r.selections.end()) return;   // unreachable: empty
            r.selections = {**fixed};
        }
        // Every expert that may be selected, on the shared part of the graph (the routes differ in their gates
        // only). Their outputs are bounded by back-substitution only where a nonlinear stage follows (its input
        // bounds come from them); a block that ends the network is relaxed per margin (aggregated products),
        // which back-substitutes through the experts itself.
        bool nonlinear_after = false;
        for (std::size_t t = si + 1; t < net_.stages.size(); ++t) nonlinear_after = nonlinear_after || net_.stages[t].kind != Stage::Kind::affine;
        std::vector<int> expert_node(static_cast<std::size_t>(E), -1);
        for (std::int64_t e = 0; e < E; ++e) {
            const bool needed = fixed ? std::find((*fixed)->begin(), (*fixed)->end(), e) != (*fixed)->end() : r.candidate[static_cast<std::size_t>(e)] != 0;
            if (!needed) continue;
            const int n = chain(w, w.cur, pm.experts[static_cast<std::size_t>(e)], static_cast<int>(si), static_cast<int>(e));
            if (nonlinear_after) w.g.refine(n, false);
            expert_node[static_cast<std::size_t>(e)] = n;
        }
        if (!fixed && r.selections.size() > 1 && routes * r.selections.size() > o_.max_routes) {
            Walk v = std::move(w);
            block(v, si, pairs, expert_node, r, std::nullopt);
            stage(std::move(v), si + 1, moe_index + 1, routes);
            return;
        }
        for (std::size_t i = 0; i < r.selections.size() && !done(); ++i) {
            Walk v = i + 1 == r.selections.size() ? std::move(w) : w;
            block(v, si, pairs, expert_node, r, r.selections[i]);
            if (v.g.feasible()) stage(std::move(v), si + 1, moe_index + 1, routes * r.selections.size());
        }
    }

    // The MoE block's output for one selection (sel) or relaxed (no sel): experts, gates, their products' sum.
    void block(Walk& w, std::size_t si, int pairs, const std::vector<int>& expert_node, const StageRouting& r,
               const std::optional<Selection>& sel) {
        const MoEStage& m = net_.stages[si].moe;
        const std::int64_t E = m.experts_count();
        const bool soft = m.gate == GateMode::soft, over_selected = m.gate == GateMode::topk_then_softmax;
        Selection members;
        std::vector<std::uint8_t> sure_member;
        for (std::int64_t e = 0; e < E; ++e) {
            const bool in = sel ? std::find(sel->begin(), sel->end(), e) != sel->end() : r.candidate[static_cast<std::size_t>(e)] != 0;
            if (!in) continue;
            members.push_back(e);
            sure_member.push_back(sel ? 1 : r.sure[static_cast<std::size_t>(e)]);
        }
        w.route.selections.push_back(members);
        w.route.relaxed.push_back(sel ? 0 : 1);
        std::vector<int> experts;
        for (std::int64_t e : members) experts.push_back(expert_node[static_cast<std::size_t>(e)]);
        if (over_selected && m.k == 1 && sel) {   // top-1 then softmax over the selected: the gate is 1
            w.cur = experts.front();
            return;
        }
        // Gate t = 1 / (1 + sum_{j in T} exp(s_j - s_i)), T_low (for its lower bound) a superset of T_up.
        std::vector<double> dw;
        std::vector<std::pair<std::int64_t, std::int64_t>> drows;   // (i, j) per row of d = s_j - s_i
        std::vector<std::vector<std::size_t>> low_rows(members.size()), up_rows(members.size());
        std::vector<std::uint8_t> may_zero(members.size());
        for (std::size_t t = 0; t < members.size(); ++t) {
            const std::int64_t i = members[t];
            may_zero[t] = !sure_member[t] && !soft;
            for (std::int64_t j = 0; j < E; ++j) {
                if (j == i) continue;
                const bool cand = r.candidate[static_cast<std::size_t>(j)] != 0;
                const bool member = std::find(members.begin(), members.end(), j) != members.end();
                bool in_low = true, in_up = true;
                if (over_selected) {
                    in_low = sel ? member : cand;
                    in_up = sel ? member : r.sure[static_cast<std::size_t>(j)] != 0;
                }
                if (!in_low) continue;
                const std::size_t row = drows.size();
                drows.push_back({i, j});
                low_rows[t].push_back(row);
                if (in_up) up_rows[t].push_back(row);
            }
        }
        const auto P = static_cast<std::int64_t>(E * (E - 1) / 2), D = static_cast<std::int64_t>(drows.size());
        int sums_parent = pairs;
        std::int64_t sums_in = P;
        if (D > 0) {
            std::vector<double> w_d(static_cast<std::size_t>(D * P), 0.0);
            for (std::int64_t q = 0; q < D; ++q) {
                const auto [i, j] = drows[static_cast<std::size_t>(q)];
                w_d[static_cast<std::size_t>(q * P + pair_row(std::min(i, j), std::max(i, j), E))] = j < i ? 1.0 : -1.0;
            }
            DenseMap dm = dense_map(D, P, std::move(w_d), {});
            dm.selection_rows = true;
            const int d = w.g.add_linear(pairs, std::make_shared<const DenseMap>(std::move(dm)));
            // On the part of the region where `sel` is the selection, a selected expert's score is at least
            // an unselected one's: s_j - s_i <= 0.
            if (sel && !soft)
                for (std::int64_t q = 0; q < D; ++q) {
                    const std::int64_t j = drows[static_cast<std::size_t>(q)].second;
                    if (std::find(sel->begin(), sel->end(), j) == sel->end() && !w.g.clip(d, q, -kInf, 0.0)) return;
                }
            sums_parent = w.g.add_exp(d);
            sums_in = D;
        }
        // The sums: one row per distinct set (the lower set, then the upper one when it differs).
        std::vector<double> w_u;
        std::vector<std::int64_t> lower_row, upper_row;
        std::int64_t rows = 0;
        const auto add_row = [&](const std::vector<std::size_t>& set) {
            std::vector<double> row(static_cast<std::size_t>(sums_in), 0.0);
            if (D > 0)
                for (std::size_t q : set) row[q] = 1.0;
            w_u.insert(w_u.end(), row.begin(), row.end());
            return rows++;
        };
        for (std::size_t t = 0; t < members.size(); ++t) {
            lower_row.push_back(add_row(low_rows[t]));
            upper_row.push_back(up_rows[t] == low_rows[t] ? lower_row.back() : add_row(up_rows[t]));
        }
        const int u = w.g.add_linear(sums_parent, std::make_shared<const DenseMap>(dense_map(rows, sums_in, std::move(w_u), {})));
        w.g.refine(u, false);
        const int gates = w.g.add_reciprocal(u, std::move(lower_row), std::move(upper_row), std::move(may_zero));
        w.cur = w.g.add_gated_sum(gates, std::move(experts));
    }

    // The margins F_y - F_j (j != y) of this route: one row each on the last node.
    void finish(Walk w) {
        const std::int64_t C = net_.classes, dim = w.g.node(w.cur).dim;
        if (dim != C) throw std::logic_error("linear bounds: the network's last node is not the logits");
        std::vector<double> lam;
        for (std::int64_t j = 0; j < C; ++j) {
            if (j == y_) continue;
            std::vector<double> row(static_cast<std::size_t>(C), 0.0);
            row[static_cast<std::size_t>(y_)] = 1.0;
            row[static_cast<std::size_t>(j)] = -1.0;
            lam.insert(lam.end(), row.begin(), row.end());
        }
        std::vector<double> low;
        if (o_.method == LinearMethod::alpha_crown) {
            AlphaOptions ao;
            ao.iterations = o_.alpha_iterations;
            ao.step = o_.alpha_step;
            ao.stop_when_positive = o_.stop_at_failure;
            low = alpha_crown_lower(w.g, w.cur, lam, C - 1, ao);
        } else {
            // The top block's gates by their linear bounds and by their intervals: the larger bound per margin.
            BoundGraph::BackwardOptions bo;
            bo.aggregate_top_product = true;
            std::vector<double> cache;
            bo.product_cache = &cache;
            low = w.g.lower(w.cur, lam, C - 1, bo).lower;
            if (w.g.top_product(w.cur) >= 0) {
                bo.concretize_top_gates = true;
                const std::vector<double> other = w.g.lower(w.cur, lam, C - 1, bo).lower;
                for (std::size_t k = 0; k < low.size(); ++k) low[k] = std::max(low[k], other[k]);
            }
        }
        RouteBounds& r = w.route;
        r.margin_lower.assign(static_cast<std::size_t>(C), 0.0);
        bool failed = false;
        for (std::int64_t j = 0, t = 0; j < C; ++j) {
            if (j == y_) continue;
            const double v = low[static_cast<std::size_t>(t++)];
            r.margin_lower[static_cast<std::size_t>(j)] = v;
            out_.lower[static_cast<std::size_t>(j)] = std::min(out_.lower[static_cast<std::size_t>(j)], v);
            failed = failed || !(v > 0.0);
        }
        if (o_.details)
            for (int n = 0; n < w.g.size(); ++n) {
                const BoundNode& node = w.g.node(n);
                if (node.kind != NodeKind::relu) continue;
                const BoundNode& p = w.g.node(node.parent);
                r.relus.push_back({node.relu_id, p.lo, p.hi});
            }
        out_.routes.push_back(std::move(r));
        if (failed && o_.stop_at_failure) out_.stopped_early = true;
    }
};

}  // namespace

MarginBounds LinearBounder::margin_bounds(const InputRegion& region, int y, const LinearBoundOptions& options,
                                          const DomainConstraints& constraints) const {
    if (y < 0 || y >= net_.classes) throw std::invalid_argument("linear bounds: label out of range");
    return Builder(net_, *prep_, options, constraints, y).run(region);
}

InputRegion norm_ball_region(const double* x, std::int64_t d, double r, Norm norm, Box domain) {
    InputRegion reg;
    for (std::int64_t i = 0; i < d; ++i) {
        reg.lo.push_back(std::max(x[i] - r, domain.lo));
        reg.hi.push_back(std::min(x[i] + r, domain.hi));
    }
    if (norm == Norm::l2) {
        reg.has_l2 = true;
        reg.l2_radius = r;
        reg.center.assign(x, x + d);
    }
    return reg;
}

LinearBounder::LinearBounder(const Network& net) : net_(net) {
    require_finite_network(net);
    auto p = std::make_shared<Prepared>();
    p->affine.resize(net.stages.size());
    p->chain.resize(net.stages.size());
    p->moe.resize(net.stages.size());
    for (std::size_t i = 0; i < net.stages.size(); ++i) {
        const Stage& s = net.stages[i];
        if (s.kind == Stage::Kind::affine) p->affine[i] = dense_of(s.map);
        if (s.kind == Stage::Kind::chain) p->chain[i] = chain_of(s.chain);
        if (s.kind == Stage::Kind::moe) {
            p->moe[i].pairs = pair_differences(s.moe.router);
            for (const MapChain& c : s.moe.experts) p->moe[i].experts.push_back(chain_of(c));
        }
    }
    prep_ = std::move(p);
}

}  // namespace moelab
