// The minimal-distance MILP (distance_milp.hpp): Tjeng et al. (2019) for the ReLUs, one binary per
// reachable expert for top-1 routing, one per class that can overtake the label; the bounds from CROWN.
#include "theory/exact/distance_milp.hpp"

#include <algorithm>

#include "theory/bounds/layer_bounds.hpp"

namespace moelab::milp {
namespace {

// Bounds on z_j - z_label for every class j (entry label unused).
struct Differences {
    std::vector<double> lo, hi;
};

// What every encoding step needs besides its input.
struct Encoder {
    Milp& milp;
    std::int64_t label;
    std::int64_t classes;
    double router_margin;
    std::int64_t expert;   // the MoE stage's expert, or -1 (every reachable one)
};

// The columns of `a` narrowed to the proven bounds `b` (inside a's own).
void narrow(Milp& milp, Activations& a, const UnitBounds& b) {
    for (std::size_t k = 0; k < a.size(); ++k) {
        a.lo[k] = b.lo[k];
        a.hi[k] = b.hi[k];
        MilpColumn& c = milp.columns[static_cast<std::size_t>(a.col[k])];
        c.lo = b.lo[k];
        c.hi = b.hi[k];
    }
}

Activations encode_map(Encoder& e, const Activations& x, const AffineMap& m, LayerBounds& lb) {
    Activations y = encode_affine(e.milp, x, m);
    narrow(e.milp, y, lb.append(m, UnitBounds{y.lo, y.hi}));
    return y;
}

Activations encode_relu_after(Encoder& e, const Activations& x, LayerBounds& lb) {
    lb.relu();
    return encode_relu(e.milp, x);
}

Activations encode_chain(Encoder& e, Activations x, const MapChain& chain, LayerBounds& lb) {
    for (std::size_t l = 0; l < chain.size(); ++l) {
        if (l > 0) x = encode_relu_after(e, x, lb);
        x = encode_map(e, x, chain[l], lb);
    }
    return x;
}

// CROWN on z_j - z_label and on z_label - z_j, for every j != label, at the last map of `lb`.
Differences output_differences(const Encoder& e, const LayerBounds& lb) {
    std::vector<std::vector<double>> objectives;
    for (int sign : {1, -1})
        for (std::int64_t j = 0; j < e.classes; ++j) {
            if (j == e.label) continue;
            std::vector<double> c(static_cast<std::size_t>(e.classes), 0.0);
            c[static_cast<std::size_t>(j)] = sign;
            c[static_cast<std::size_t>(e.label)] = -sign;
            objectives.push_back(std::move(c));
        }
    const std::vector<double> v = lb.lower(objectives);
    Differences d{std::vector<double>(static_cast<std::size_t>(e.classes), -kInf),
                  std::vector<double>(static_cast<std::size_t>(e.classes), kInf)};
    const std::size_t others = static_cast<std::size_t>(e.classes - 1);
    std::size_t t = 0;
    for (std::int64_t j = 0; j < e.classes; ++j) {
        if (j == e.label) continue;
        d.lo[static_cast<std::size_t>(j)] = v[t];
        d.hi[static_cast<std::size_t>(j)] = -v[others + t];
        ++t;
    }
    return d;
}

// lower[i][j]: a lower bound of s_i - s_j over the box, the better of interval arithmetic on the router's
// input box and CROWN through the maps before it (the same for a router on the input).
std::vector<std::vector<double>> score_difference_lower(const Activations& in, const AffineMap& router,
                                                        const LayerBounds& router_bounds) {
    const std::int64_t E = router.out();
    std::vector<std::vector<double>> objectives;
    for (std::int64_t i = 0; i < E; ++i)
        for (std::int64_t j = 0; j < E; ++j) {
            std::vector<double> c(static_cast<std::size_t>(E), 0.0);
            if (i != j) c[static_cast<std::size_t>(i)] = 1.0, c[static_cast<std::size_t>(j)] = -1.0;
            objectives.push_back(std::move(c));
        }
    const std::vector<double> crown = router_bounds.lower(objectives);
    std::vector<std::vector<double>> lower(static_cast<std::size_t>(E), std::vector<double>(static_cast<std::size_t>(E), 0.0));
    for (std::int64_t i = 0; i < E; ++i)
        for (std::int64_t j = 0; j < E; ++j)
            if (i != j)
                lower[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] =
                    std::max(difference_lower(router, i, j, in.lo, in.hi), crown[static_cast<std::size_t>(i * E + j)]);
    return lower;
}

// Expert i is reachable unless some j beats it by more than the margin everywhere on the box.
std::vector<std::int64_t> reachable_experts(const std::vector<std::vector<double>>& lower, double margin) {
    std::vector<std::int64_t> reachable;
    const std::size_t E = lower.size();
    for (std::size_t i = 0; i < E; ++i) {
        bool ok = true;
        for (std::size_t j = 0; j < E; ++j)
            if (j != i && -lower[j][i] < margin) ok = false;
        if (ok) reachable.push_back(static_cast<std::int64_t>(i));
    }
    return reachable;
}

// Binary a_i per reachable expert (none when one is left), sum a_i = 1, and s_i - s_j >= m - (1 - a_i) M_ij
// where the bounds do not already imply it. Returns a_i's column per reachable expert (-1: the only one).
std::vector<int> encode_routing(Encoder& e, const Activations& scores, const std::vector<std::vector<double>>& lower,
                                const std::vector<std::int64_t>& reachable) {
    Milp& milp = e.milp;
    const double margin = e.router_margin;
    std::vector<int> chosen;
    for (std::size_t r = 0; r < reachable.size(); ++r) {
        chosen.push_back(reachable.size() == 1 ? -1 : milp.add_column(0.0, 1.0, true));
        if (reachable.size() > 1) ++milp.routing_binaries;
    }
    if (reachable.size() > 1) milp.add_row(chosen, std::vector<double>(chosen.size(), 1.0), 1.0, 1.0);
    for (std::size_t r = 0; r < reachable.size(); ++r) {
        const auto i = static_cast<std::size_t>(reachable[r]);
        for (std::size_t j = 0; j < lower.size(); ++j) {
            if (j == i || lower[i][j] >= margin) continue;   // holds on the whole box
            const int si = scores.col[i], sj = scores.col[j];
            if (chosen[r] < 0) {
                milp.add_row({si, sj}, {1.0, -1.0}, margin, kInf);
            } else {
                const double M = margin - lower[i][j];   // s_i - s_j - M a_i >= margin - M
                milp.add_row({si, sj, chosen[r]}, {1.0, -1.0, -M}, margin - M, kInf);
            }
        }
    }
    return chosen;
}

// z = f_i(x) for the chosen expert, by big-M on z_c - f_{i,c} (bounds: the widest over the experts).
Activations encode_selected_output(Milp& milp, const std::vector<Activations>& outputs, const std::vector<int>& chosen) {
    Activations z;
    const std::size_t m = outputs[0].size();
    for (std::size_t c = 0; c < m; ++c) {
        double lo = kInf, hi = -kInf;
        for (const Activations& f : outputs) {
            lo = std::min(lo, f.lo[c]);
            hi = std::max(hi, f.hi[c]);
        }
        z.col.push_back(milp.add_column(lo, hi));
        z.lo.push_back(lo);
        z.hi.push_back(hi);
    }
    for (std::size_t r = 0; r < outputs.size(); ++r) {
        const Activations& f = outputs[r];
        for (std::size_t c = 0; c < m; ++c) {
            const double up = z.hi[c] - f.lo[c], down = f.hi[c] - z.lo[c];
            // z_c - f_c <= (1 - a) up  and  z_c - f_c >= -(1 - a) down
            milp.add_row({z.col[c], f.col[c], chosen[r]}, {1.0, -1.0, up}, -kInf, up);
            milp.add_row({z.col[c], f.col[c], chosen[r]}, {1.0, -1.0, -down}, -down, kInf);
        }
    }
    return z;
}

// Top-1 routing over the experts that can win somewhere in the box; `diffs` receives the logit-difference
// bounds of the stage's output, the widest over those experts.
Activations encode_top1_moe(Encoder& e, const Activations& in, const MoEStage& moe, const LayerBounds& lb, Differences& diffs) {
    LayerBounds router_bounds = lb;
    const Activations scores = encode_map(e, in, moe.router, router_bounds);
    const auto lower = score_difference_lower(in, moe.router, router_bounds);
    std::vector<std::int64_t> reachable = reachable_experts(lower, e.router_margin);
    if (e.expert >= 0) {   // this piece: only the given expert, with its routing constraints as plain rows
        const bool can_win = std::find(reachable.begin(), reachable.end(), e.expert) != reachable.end();
        reachable.clear();
        if (can_win) reachable.push_back(e.expert);
    }
    if (reachable.empty()) {
        e.milp.infeasible = true;
        reachable.push_back(0);   // keep the shapes defined; the problem is not solved
    }
    const std::vector<int> chosen = encode_routing(e, scores, lower, reachable);
    std::vector<Activations> outputs;
    diffs = {std::vector<double>(static_cast<std::size_t>(e.classes), kInf), std::vector<double>(static_cast<std::size_t>(e.classes), -kInf)};
    for (std::int64_t i : reachable) {
        LayerBounds expert_bounds = lb;
        outputs.push_back(encode_chain(e, in, moe.experts[static_cast<std::size_t>(i)], expert_bounds));
        if (outputs.back().size() != static_cast<std::size_t>(e.classes)) continue;   // not the network's end
        const Differences d = output_differences(e, expert_bounds);
        for (std::size_t j = 0; j < d.lo.size(); ++j) {
            diffs.lo[j] = std::min(diffs.lo[j], d.lo[j]);
            diffs.hi[j] = std::max(diffs.hi[j], d.hi[j]);
        }
    }
    return reachable.size() == 1 ? outputs[0] : encode_selected_output(e.milp, outputs, chosen);
}

// The network's logits z, and bounds on z_j - z_label. CROWN's bounds run from the input box, restarting
// from the output box of each MoE stage (a routed layer is not one linear relaxation).
Activations encode_network(Encoder& e, Activations x, const Network& net, Differences& diffs) {
    LayerBounds lb(x.lo, x.hi);
    const AffineMap* last_map = nullptr;   // the last stage when it is affine, with its input
    Activations last_input;
    for (const Stage& s : net.stages) {
        last_map = nullptr;
        switch (s.kind) {
            case Stage::Kind::affine:
                last_map = &s.map;
                last_input = x;
                x = encode_map(e, x, s.map, lb);
                break;
            case Stage::Kind::relu: x = encode_relu_after(e, x, lb); break;
            case Stage::Kind::chain: x = encode_chain(e, std::move(x), s.chain, lb); break;
            case Stage::Kind::moe:
                x = encode_top1_moe(e, x, s.moe, lb, diffs);
                lb = LayerBounds(x.lo, x.hi);
                break;
        }
    }
    if (net.stages.back().kind != Stage::Kind::moe) diffs = output_differences(e, lb);
    if (last_map)   // interval arithmetic on the last map's input: sometimes tighter than CROWN's relaxations
        for (std::int64_t j = 0; j < e.classes; ++j) {
            if (j == e.label) continue;
            auto& lo = diffs.lo[static_cast<std::size_t>(j)];
            auto& hi = diffs.hi[static_cast<std::size_t>(j)];
            lo = std::max(lo, difference_lower(*last_map, j, e.label, last_input.lo, last_input.hi));
            hi = std::min(hi, -difference_lower(*last_map, e.label, j, last_input.lo, last_input.hi));
        }
    return x;
}

// Some class j != label has z_j - z_label >= m: binary c_j per class that can win, sum c_j = 1,
// z_j - z_label >= m - (1 - c_j) M_j.
// With a target, only that class is allowed to win.
void encode_misclassification(Milp& milp, const Activations& z, const Differences& diffs, std::int64_t label, double margin,
                              std::int64_t target) {
    const auto y = static_cast<std::size_t>(label);
    std::vector<std::size_t> winners;
    std::vector<double> low;   // lower bound of z_j - z_y per winner
    for (std::size_t j = 0; j < z.size(); ++j) {
        if (j == y || (target >= 0 && j != static_cast<std::size_t>(target))) continue;
        const double lo = std::max(widen_down(z.lo[j] - z.hi[y]), diffs.lo[j]);
        const double hi = std::min(widen_up(z.hi[j] - z.lo[y]), diffs.hi[j]);
        if (hi < margin) continue;   // class j never reaches the label's logit on the box
        winners.push_back(j);
        low.push_back(lo);
    }
    if (winners.empty()) {
        milp.infeasible = true;
        return;
    }
    if (winners.size() == 1) {
        milp.add_row({z.col[winners[0]], z.col[y]}, {1.0, -1.0}, margin, kInf);
        return;
    }
    std::vector<int> picks;
    for (std::size_t k = 0; k < winners.size(); ++k) {
        const int c = milp.add_column(0.0, 1.0, true);
        picks.push_back(c);
        const double M = std::max(0.0, margin - low[k]);   // z_j - z_y - M c >= margin - M
        milp.add_row({z.col[winners[k]], z.col[y], c}, {1.0, -1.0, -M}, margin - M, kInf);
    }
    milp.add_row(picks, std::vector<double>(picks.size(), 1.0), 1.0, 1.0);
}

}  // namespace

Milp build_distance_milp(const Network& net, const std::vector<double>& x, std::int64_t label, double R, const Box& domain,
                         const Margins& margins, Piece piece) {
    Milp milp;
    milp.gomory_cuts = true;   // milp_internal.cpp: a 5-10x shorter branch and bound on W6
    Activations in;
    for (double xi : x) {
        const double lo = std::max(xi - R, domain.lo), hi = std::min(xi + R, domain.hi);
        in.col.push_back(milp.add_column(lo, hi));
        in.lo.push_back(lo);
        in.hi.push_back(hi);
    }
    const int t = milp.add_column(0.0, R);
    milp.columns[static_cast<std::size_t>(t)].objective = 1.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        milp.add_row({t, in.col[i]}, {1.0, -1.0}, -x[i], kInf);   // t >= x'_i - x_i
        milp.add_row({t, in.col[i]}, {1.0, 1.0}, x[i], kInf);     // t >= x_i - x'_i
    }
    Encoder e{milp, label, net.classes, margins.router, piece.expert};
    Differences diffs;
    const Activations z = encode_network(e, in, net, diffs);
    encode_misclassification(milp, z, diffs, label, margins.classes, piece.target);
    return milp;
}

}  // namespace moelab::milp
