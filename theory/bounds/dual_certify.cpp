// The dual model's certificates (theory/bounds/dual.hpp) and the attack model of F_D.
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "engine/config_error.hpp"
#include "engine/ops.hpp"
#include "theory/bounds/dual.hpp"
#include "theory/bounds/ibp.hpp"
#include "theory/bounds/lipschitz.hpp"

namespace moelab {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

void softmax_rows(Tensor& z) {
    const std::int64_t C = z.cols();
    for (std::int64_t b = 0; b < z.rows(); ++b) {
        double* r = z.data() + b * C;
        const double mx = *std::max_element(r, r + C);
        double s = 0.0;
        for (std::int64_t c = 0; c < C; ++c) s += (r[c] = std::exp(r[c] - mx));
        for (std::int64_t c = 0; c < C; ++c) r[c] /= s;
    }
}

// Sound ||z(x') - z(x)||_inf / ||x' - x||_p bound of a model's logits, NaN when it has none (hard routing).
// A model-level MoE with one expert has gate 1 everywhere (softmax over one score), so its expert's
// layer product, which lipschitz_upper calls naive, is sound there.
double sound_logit_constant(const Network& net, Norm p) {
    const LipschitzUpper u = lipschitz_upper(net, p);
    if (net.model_level() && net.stages[0].moe.experts_count() == 1) return u.logits;
    // For l2 the bound is on ||dz||_2 >= ||dz||_inf: still a bound on the L-inf change.
    return u.sound ? u.logits : kNaN;
}

// Softmax bounds from logit bounds of one row (see dual.hpp), widened by 1e-12 relative for rounding.
void softmax_bounds(const double* lo, const double* hi, std::int64_t C, double* plo, double* phi) {
    for (std::int64_t c = 0; c < C; ++c) {
        double s_lo = 0.0, s_hi = 0.0;
        for (std::int64_t k = 0; k < C; ++k) {
            if (k == c) continue;
            s_lo += std::exp(hi[k] - lo[c]);
            s_hi += std::exp(lo[k] - hi[c]);
        }
        plo[c] = (1.0 / (1.0 + s_lo)) * (1.0 - 1e-12);
        phi[c] = std::min(1.0, (1.0 / (1.0 + s_hi)) * (1.0 + 1e-12));
    }
}

// The largest radius per row at which `ok(r)` holds (doubling from 1/8, then `iters` halvings); rows with
// !ok(0) get 0. `ok` takes per-row radii and answers per row.
template <class Ok>
std::vector<double> largest_radius(std::size_t B, Ok&& ok, int iters) {
    std::vector<double> lo(B, 0.0), hi(B, 0.125);
    const std::vector<std::uint8_t> at_zero = ok(lo);
    std::vector<std::uint8_t> growing = at_zero;
    for (int round = 0; round < 30; ++round) {
        if (std::none_of(growing.begin(), growing.end(), [](std::uint8_t g) { return g != 0; })) break;
        const auto good = ok(hi);
        for (std::size_t b = 0; b < B; ++b) {
            if (!growing[b]) continue;
            if (good[b] && hi[b] < 1e6) lo[b] = hi[b], hi[b] *= 2.0;
            else growing[b] = 0;
        }
    }
    for (int i = 0; i < iters; ++i) {
        std::vector<double> mid(B, 0.0);
        for (std::size_t b = 0; b < B; ++b) mid[b] = at_zero[b] ? 0.5 * (lo[b] + hi[b]) : 0.0;
        const auto good = ok(mid);
        for (std::size_t b = 0; b < B; ++b)
            if (at_zero[b]) (good[b] ? lo[b] : hi[b]) = mid[b];
    }
    for (std::size_t b = 0; b < B; ++b)
        if (!at_zero[b]) lo[b] = 0.0;
    return lo;
}

// dual-ibp: interval bounds through both models, then through softmax; the largest radius per row at which
// every lower bound of F_D,y - F_D,j is positive (0 where F_D misclassifies: `correct`).
std::vector<double> dual_ibp_radii(const Network& standard, const Network& robust, double alpha, const Tensor& x,
                                   const std::vector<int>& y, const std::vector<std::uint8_t>& correct, Box domain, DualMix mix) {
    const std::int64_t B = x.rows(), C = standard.classes;
    const auto uB = static_cast<std::size_t>(B);
    auto ibp_ok = [&](const std::vector<double>& r) {
        const LogitBounds zs = ibp_logit_bounds(standard, x, r, domain), zr = ibp_logit_bounds(robust, x, r, domain);
        std::vector<std::uint8_t> ok(uB, 0);
        std::vector<double> sl(static_cast<std::size_t>(C)), sh(sl), rl(sl), rh(sl);
        for (std::int64_t b = 0; b < B; ++b) {
            const auto ub = static_cast<std::size_t>(b);
            if (!correct[ub]) continue;
            if (mix == DualMix::probabilities) {
                softmax_bounds(zs.lo.data() + b * C, zs.hi.data() + b * C, C, sl.data(), sh.data());
                softmax_bounds(zr.lo.data() + b * C, zr.hi.data() + b * C, C, rl.data(), rh.data());
            } else {
                std::copy(zs.lo.data() + b * C, zs.lo.data() + (b + 1) * C, sl.begin());
                std::copy(zs.hi.data() + b * C, zs.hi.data() + (b + 1) * C, sh.begin());
                std::copy(zr.lo.data() + b * C, zr.lo.data() + (b + 1) * C, rl.begin());
                std::copy(zr.hi.data() + b * C, zr.hi.data() + (b + 1) * C, rh.begin());
            }
            const auto yb = static_cast<std::size_t>(y[ub]);
            bool all = true;
            for (std::size_t j = 0; j < static_cast<std::size_t>(C) && all; ++j) {
                if (j == yb) continue;
                const double low = (1.0 - alpha) * (sl[yb] - sh[j]) + alpha * (rl[yb] - rh[j]);
                all = low - 1e-12 * (std::abs(sl[yb]) + std::abs(sh[j]) + std::abs(rl[yb]) + std::abs(rh[j])) > 0.0;
            }
            ok[ub] = all;
        }
        return ok;
    };
    return largest_radius(uB, ibp_ok, 40);
}

}  // namespace

void check_alpha(double alpha) {
    if (!(alpha >= 0.0 && alpha <= 1.0)) {
        std::ostringstream s;
        s << "must be in [0, 1], got " << alpha;
        throw ConfigError("alpha", s.str());
    }
}

const char* to_string(DualMix mix) { return mix == DualMix::logits ? "logits" : "probabilities"; }

DualMix parse_dual_mix(const std::string& name) {
    if (name == "logits") return DualMix::logits;
    if (name == "probabilities") return DualMix::probabilities;
    throw ConfigError("dual-mix", "expected logits or probabilities, got '" + name + "'");
}

std::string describe(DualMix mix) {
    return mix == DualMix::logits ? "dual: (1 - alpha) z_S + alpha z_R (logits mixed, as P2's code)"
                                  : "dual: (1 - alpha) softmax(z_S) + alpha softmax(z_R) (probabilities mixed)";
}

Tensor dual_outputs(const Network& standard, const Network& robust, double alpha, const Tensor& x, DualMix mix) {
    if (mix == DualMix::probabilities) return dual_probabilities(standard, robust, alpha, x);
    check_alpha(alpha);
    Tensor zs = network_logits(standard, x);
    const Tensor zr = network_logits(robust, x);
    for (std::int64_t i = 0; i < zs.numel(); ++i) zs[i] = (1.0 - alpha) * zs[i] + alpha * zr[i];
    return zs;
}

Tensor dual_probabilities(const Network& standard, const Network& robust, double alpha, const Tensor& x) {
    check_alpha(alpha);
    Tensor ps = network_logits(standard, x), pr = network_logits(robust, x);
    softmax_rows(ps);
    softmax_rows(pr);
    for (std::int64_t i = 0; i < ps.numel(); ++i) ps[i] = (1.0 - alpha) * ps[i] + alpha * pr[i];
    return ps;
}

AttackModel dual_attack_model(const Classifier& standard, const Classifier& robust, double alpha, Box domain, DualMix mix) {
    check_alpha(alpha);
    AttackModel m;
    // Both registries are frozen while the graph is built (AttackModel holds one registry, F_D has two), so
    // backward skips every weight GEMM of both halves. The 1e-300 keeps log finite where a probability underflows.
    m.logits = [&standard, &robust, alpha, mix](const Var& x) {
        FrozenParams fs(standard.params()), fr(robust.params());
        if (mix == DualMix::logits)
            return add(mul_scalar(standard.forward(x).logits, 1.0 - alpha), mul_scalar(robust.forward(x).logits, alpha));
        return log(add_scalar(dual_forward(standard, robust, alpha, x), 1e-300));
    };
    m.domain = domain;
    m.params = nullptr;
    return m;
}

DualRadii certify_dual(const Network& standard, const Network& robust, double alpha, const Tensor& x,
                       const std::vector<int>& y, Norm p, Box domain, DualMix mix) {
    check_alpha(alpha);
    if (standard.classes != robust.classes || standard.input_dim != robust.input_dim)
        throw std::invalid_argument("dual model: the standard and robust models differ in input dimension or classes");
    if (x.cols() != standard.input_dim || x.rows() != static_cast<std::int64_t>(y.size()))
        throw std::invalid_argument("dual model: x has shape [" + std::to_string(x.rows()) + ", " + std::to_string(x.cols()) +
                                    "], expected [" + std::to_string(y.size()) + ", " + std::to_string(standard.input_dim) + "]");
    const std::int64_t B = x.rows(), C = standard.classes;
    const auto uB = static_cast<std::size_t>(B);
    DualRadii out;
    out.radius.assign(kDualMethods.size(), std::vector<double>(uB, kNaN));
    const Tensor pd = dual_outputs(standard, robust, alpha, x, mix);
    Tensor pr = network_logits(robust, x);
    softmax_rows(pr);
    std::vector<std::uint8_t> correct(uB);
    for (std::int64_t b = 0; b < B; ++b) {
        const int yb = y[static_cast<std::size_t>(b)];
        bool ok = true;
        for (std::int64_t j = 0; j < C; ++j)
            if (j != yb && !(pd.at(b, yb) > pd.at(b, j))) ok = false;
        correct[static_cast<std::size_t>(b)] = ok;
    }
    // (a) Lipschitz margin of F_D. With alpha = 0 or 1 only the model that carries weight needs a constant.
    const double LS = alpha < 1.0 ? sound_logit_constant(standard, p) : 0.0;
    const double LR = alpha > 0.0 ? sound_logit_constant(robust, p) : 0.0;
    // Mixed logits: a difference of two logits moves by up to twice the L-inf change.
    const double LD = ((1.0 - alpha) * LS + alpha * LR) * (mix == DualMix::logits ? 2.0 : 1.0);
    if (!std::isnan(LD)) {
        for (std::int64_t b = 0; b < B; ++b) {
            const auto ub = static_cast<std::size_t>(b);
            double r = kInf;
            for (std::int64_t j = 0; j < C && correct[ub]; ++j)
                if (j != y[ub]) r = std::min(r, LD > 0.0 ? (pd.at(b, y[ub]) - pd.at(b, j)) / LD : kInf);
            out.radius[0][ub] = correct[ub] ? r : 0.0;
        }
    } else {
        out.note = "dual-lipschitz and dual-robust-margin need a sound global Lipschitz constant (no hard-routing MoE); ";
    }
    // (b) the robust model's probability margin against (1 - alpha) B_S / alpha, B_S = 1.
    if (mix == DualMix::logits) {
        out.note += "dual-robust-margin needs bounded class-score differences of F_S: not with mixed logits; ";
    } else if (!std::isnan(LR)) {
        const double need = alpha > 0.0 ? (1.0 - alpha) / alpha : kInf;
        for (std::int64_t b = 0; b < B; ++b) {
            const auto ub = static_cast<std::size_t>(b);
            double r = alpha > 0.0 ? kInf : 0.0;
            for (std::int64_t j = 0; j < C && alpha > 0.0; ++j) {
                if (j == y[ub]) continue;
                const double slack = pr.at(b, y[ub]) - pr.at(b, j) - need;
                r = std::min(r, slack <= 0.0 ? 0.0 : (LR > 0.0 ? slack / LR : kInf));
            }
            out.radius[1][ub] = correct[ub] ? r : 0.0;
        }
    }
    out.radius[2] = dual_ibp_radii(standard, robust, alpha, x, y, correct, domain, mix);
    if (out.note.size() >= 2) out.note.resize(out.note.size() - 2);   // the last "; "
    out.best.assign(uB, 0.0);
    for (std::size_t b = 0; b < uB; ++b)
        for (const auto& m : out.radius)
            if (!std::isnan(m[b])) out.best[b] = std::max(out.best[b], m[b]);
    return out;
}

}  // namespace moelab
