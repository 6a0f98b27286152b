#include "theory/network/local_piece.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace moelab {

namespace {

// The units computed so far as an affine map of the input (map.w [n, d], map.b [n]) together with their
// values at the point. `identity`: nothing applied yet (the map is x itself, not stored).
struct Piece {
    bool identity = true;
    AffineMap map;
    std::vector<double> value;
};

// m applied after p: W (A x + a) + b = (W A) x + (W a + b); values summed in index order as forward_point.
Piece compose(const AffineMap& m, const Piece& p) {
    Piece out;
    out.identity = false;
    const std::int64_t n_out = m.out(), n_in = m.in();
    const std::int64_t d = p.identity ? n_in : p.map.in();
    out.map.w = Tensor(Shape{n_out, d}, 0.0);
    out.map.b = Tensor(Shape{n_out}, 0.0);
    out.value.assign(static_cast<std::size_t>(n_out), 0.0);
    for (std::int64_t r = 0; r < n_out; ++r) {
        double v = m.b[r], b = m.b[r];
        double* row = out.map.w.data() + r * d;
        for (std::int64_t c = 0; c < n_in; ++c) {
            const double w = m.weight(r, c);
            v += w * p.value[static_cast<std::size_t>(c)];
            if (w == 0.0) continue;
            if (p.identity) {
                row[c] = w;
                continue;
            }
            b += w * p.map.b[c];
            const double* a = p.map.w.data() + c * d;
            for (std::int64_t k = 0; k < d; ++k) row[k] += w * a[k];
        }
        out.map.b[r] = p.identity ? m.b[r] : b;
        out.value[static_cast<std::size_t>(r)] = v;
    }
    return out;
}

// ReLU on the region of the point: units at or below 0 are 0 there (their rows vanish), the others pass.
void relu_piece(Piece& p) {
    if (p.identity) throw std::logic_error("local_piece: a ReLU on the raw input");
    const std::int64_t d = p.map.in();
    for (std::int64_t r = 0; r < p.map.out(); ++r) {
        if (p.value[static_cast<std::size_t>(r)] > 0.0) continue;
        p.value[static_cast<std::size_t>(r)] = 0.0;
        p.map.b[r] = 0.0;
        std::fill(p.map.w.data() + r * d, p.map.w.data() + (r + 1) * d, 0.0);
    }
}

Piece chain_piece(const MapChain& chain, Piece p) {
    for (std::size_t i = 0; i < chain.size(); ++i) {
        if (i > 0) relu_piece(p);
        p = compose(chain[i], p);
    }
    return p;
}

// The top-1 expert of the scores, ties to the lower index (as topk()).
std::int64_t top1(const std::vector<double>& s) {
    return static_cast<std::int64_t>(std::max_element(s.begin(), s.end()) - s.begin());
}

// The leads s_e - s_j (j != e) of the router's scores as maps of the input.
RoutingLead lead_of(const Piece& scores, std::int64_t e) {
    RoutingLead r;
    r.expert = e;
    const std::int64_t E = scores.map.out(), d = scores.map.in();
    r.lead.w = Tensor(Shape{E - 1, d}, 0.0);
    r.lead.b = Tensor(Shape{E - 1}, 0.0);
    for (std::int64_t j = 0, row = 0; j < E; ++j) {
        if (j == e) continue;
        r.others.push_back(j);
        for (std::int64_t k = 0; k < d; ++k) r.lead.w.data()[row * d + k] = scores.map.weight(e, k) - scores.map.weight(j, k);
        r.lead.b[row] = scores.map.b[e] - scores.map.b[j];
        ++row;
    }
    return r;
}

// The gate of the selected expert at the point, as the forward pass computes it (1 for topk_then_softmax).
double gate_at(const MoEStage& m, const std::vector<double>& s, std::int64_t e) {
    if (m.gate == GateMode::topk_then_softmax) return 1.0;
    const double mx = *std::max_element(s.begin(), s.end());
    double z = 0.0;
    for (double v : s) z += std::exp(v - mx);
    return std::exp(s[static_cast<std::size_t>(e)] - mx) / z;
}

Piece moe_piece(const MoEStage& m, const Piece& in, std::int64_t forced, LocalPiece& out) {
    const Piece scores = compose(m.router, in);
    const std::int64_t e = forced >= 0 ? forced : top1(scores.value);
    out.routes.push_back(lead_of(scores, e));
    Piece y = chain_piece(m.experts[static_cast<std::size_t>(e)], in);
    const double g = gate_at(m, scores.value, e);
    if (g == 1.0) return y;
    for (std::int64_t i = 0; i < y.map.w.numel(); ++i) y.map.w[i] *= g;
    for (std::int64_t i = 0; i < y.map.b.numel(); ++i) y.map.b[i] *= g;
    for (double& v : y.value) v *= g;
    return y;
}

}  // namespace

std::string local_piece_support(const Network& net) {
    for (const Stage& s : net.stages)
        if (s.kind == Stage::Kind::moe && s.moe.k != 1)
            return "every MoE layer must select one expert per input (top-k 1, gate not soft); this model selects " +
                   std::to_string(s.moe.k);
    return "";
}

LocalPiece local_piece(const Network& net, const std::vector<double>& x, std::int64_t forced_first_expert) {
    const std::string why = local_piece_support(net);
    if (!why.empty()) throw std::invalid_argument("local_piece: " + why);
    if (static_cast<std::int64_t>(x.size()) != net.input_dim)
        throw std::invalid_argument("local_piece: point of dimension " + std::to_string(x.size()) + ", network input " +
                                    std::to_string(net.input_dim));
    LocalPiece out;
    Piece p;
    p.value = x;
    bool first_moe = true;
    for (const Stage& s : net.stages) {
        switch (s.kind) {
            case Stage::Kind::affine: p = compose(s.map, p); break;
            case Stage::Kind::relu: relu_piece(p); break;
            case Stage::Kind::chain: p = chain_piece(s.chain, std::move(p)); break;
            case Stage::Kind::moe:
                p = moe_piece(s.moe, p, first_moe ? forced_first_expert : -1, out);
                first_moe = false;
                break;
        }
    }
    out.logits = std::move(p.map);
    return out;
}

}  // namespace moelab
