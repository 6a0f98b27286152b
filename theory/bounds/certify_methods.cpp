#include "theory/bounds/certify_methods.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "engine/config_error.hpp"
#include "theory/bounds/linear_bounds.hpp"
#include "theory/exact/exact.hpp"
#include "theory/exact/exact_lipschitz.hpp"
#include "theory/bounds/ibp.hpp"
#include "theory/bounds/lipschitz.hpp"
#include "theory/network/outward_rounding.hpp"
#include "theory/bounds/smoothing.hpp"

namespace moelab {

std::optional<CertifyMethod> find_certify_method(std::string_view name) {
    for (const CertifyMethodInfo& row : kCertifyMethods)
        if (name == row.name) return row.method;
    return std::nullopt;
}

std::vector<std::string> certify_method_names(bool shared_only) {
    std::vector<std::string> names;
    for (const CertifyMethodInfo& row : kCertifyMethods)
        if (row.shared || !shared_only) names.emplace_back(row.name);
    return names;
}

std::optional<LinearMethod> linear_bound_method(CertifyMethod m) {
    switch (m) {
        case CertifyMethod::crown: return LinearMethod::crown;
        case CertifyMethod::crown_ibp: return LinearMethod::crown_ibp;
        case CertifyMethod::alpha_crown: return LinearMethod::alpha_crown;
        default: return std::nullopt;
    }
}

LinearBoundOptions linear_bound_options(CertifyMethod m) {
    LinearBoundOptions o;
    o.method = linear_bound_method(m).value();
    return o;
}

namespace {

Tensor row_of(const Tensor& x, std::int64_t i) {
    const std::int64_t d = x.cols();
    return Tensor(Shape{1, d}, std::vector<double>(x.data() + i * d, x.data() + (i + 1) * d));
}

std::string exact_lipschitz_note(std::int64_t balls, double radius_cap) {
    std::ostringstream what;
    what << "local constants on " << balls << " balls up to radius " << radius_cap;
    return what.str();
}

void certify_exact(const Classifier& model, const Dataset& test, const CertifySettings& s,
                   const std::function<void(long)>& progress, MethodRadii& r) {
    const std::string unsupported = exact_support(model);
    if (!unsupported.empty()) throw ConfigError("method", unsupported, "exact");
    ExactOptions eo;
    eo.radius_cap = s.radius_cap;
    eo.work_limit_nodes = s.work_limit_nodes;
    eo.backend = s.milp_backend;
    eo.time_limit_s = s.time_limit_s;
    eo.domain = s.domain;
    for (std::int64_t i = 0; i < test.size(); ++i) {
        const ExactResult e = exact_min_distance_linf(model, row_of(test.x, i), test.y[static_cast<std::size_t>(i)], eo);
        r.status[static_cast<std::size_t>(i)] = to_string(e.status) + (e.load_dependent ? " (load-dependent: time limit)" : "");
        // Only a proven optimum is the distance; otherwise the proven lower bound is the certificate (no
        // perturbation below it succeeds). Either way the lower bound.
        r.radius[static_cast<std::size_t>(i)] = e.lower;
        if (progress) progress(static_cast<long>(i + 1));
    }
}

void certify_exact_lipschitz(const Classifier& model, const Dataset& test, const CertifySettings& s,
                             const std::function<void(long)>& progress, MethodRadii& r) {
    const std::string unsupported = exact_lipschitz_support(model);
    if (!unsupported.empty()) throw ConfigError("method", unsupported, "exact-lipschitz");
    ExactLipschitzOptions lo;
    lo.work_limit_nodes = s.work_limit_nodes;
    lo.time_limit_s = s.time_limit_s;
    for (std::int64_t i = 0; i < test.size(); ++i) {
        const ExactLipschitzCertificate c = best_certified_radius_exact_lipschitz_linf(
            model, row_of(test.x, i), test.y[static_cast<std::size_t>(i)], s.radius_cap, s.domain, lo);
        r.radius[static_cast<std::size_t>(i)] = c.radius;
        if (c.load_dependent) r.status[static_cast<std::size_t>(i)] = "sound (load-dependent: time limit)";
        r.balls_tried += c.balls_tried;
        if (progress) progress(static_cast<long>(i + 1));
    }
    r.note = exact_lipschitz_note(r.balls_tried, s.radius_cap);
}

}  // namespace

MethodRadii certify_by_method(CertifyMethod method, const Classifier& model, const Dataset& test, Norm norm,
                              const CertifySettings& s, const std::function<void(long)>& progress) {
    MethodRadii r;
    const auto n = static_cast<std::size_t>(test.size());
    r.radius.assign(n, std::nan(""));
    r.status.assign(n, "");
    switch (method) {
    case CertifyMethod::lipschitz:
    case CertifyMethod::naive: {
        CertifiedRadii c = certify_lipschitz(network_of(model), test.x, test.y, norm, method == CertifyMethod::naive);
        r.radius = std::move(c.radius);
        r.note = c.note;
        break;
    }
    case CertifyMethod::ibp:
        r.radius = ibp_certified_radii(network_of(model), test.x, test.y, s.domain);
        if (norm == Norm::l2) r.note = "l2: the certified L-inf box contains the L2 ball of the same radius";
        break;
    case CertifyMethod::crown:
    case CertifyMethod::crown_ibp:
    case CertifyMethod::alpha_crown:
        r.radius = linear_certified_radii(network_of(model), test.x, test.y, norm, s.domain, linear_bound_options(method));
        break;
    case CertifyMethod::exact: certify_exact(model, test, s, progress, r); break;
    case CertifyMethod::exact_lipschitz: certify_exact_lipschitz(model, test, s, progress, r); break;
    case CertifyMethod::smoothing: {
        SmoothingOptions so;
        so.sigma = s.sigma;
        so.n = s.draws;
        const auto sm = certify_smoothing(model, test.x, test.y, so, s.first_index);
        r.radius.clear();
        for (std::size_t i = 0; i < n; ++i) {
            r.radius.push_back(sm[i].radius);
            r.status[i] = sm[i].predicted < 0 ? "abstain" : "probabilistic";
        }
        break;
    }
    case CertifyMethod::p2: {
        // The sound reading is the certificate; it is a proof only where its status is formal (raw logits with a
        // stated M are diagnostic, a reachable routing tie not applicable: radius 0 there).
        r.p2 = p2_equation8_radii(network_of(model), test.x, test.y, s.p2);
        for (std::size_t i = 0; i < n; ++i) {
            const P2Radius& q = r.p2[i];
            r.radius[i] = q.sound_status == RadiusStatus::formal ? q.sound : 0.0;
            r.status[i] = to_string(q.sound_status);
            if (r.note.empty() && !q.note.empty()) r.note = q.note;
        }
        break;
    }
    default: throw std::logic_error("certify_by_method: " + to_string(method) + " has a dispatch of its own");
    }
    const bool floating_point = method == CertifyMethod::lipschitz || method == CertifyMethod::naive ||
                                method == CertifyMethod::ibp || linear_bound_method(method).has_value();
    for (std::size_t i = 0; i < n; ++i) {
        // The floating-point certificates' rounding charge (theory/network/outward_rounding.hpp).
        if (floating_point) r.radius[i] = float_radius_outward(r.radius[i]);
        if (r.status[i].empty()) r.status[i] = std::isnan(r.radius[i]) ? "unsupported" : "sound";
    }
    return r;
}

MethodRadii merge_method_radii(CertifyMethod method, const std::vector<MethodRadii>& blocks, const CertifySettings& s) {
    if (!info(method).per_sample) throw std::logic_error("merge_method_radii: " + to_string(method) + " runs as one batch");
    MethodRadii all;
    for (const MethodRadii& b : blocks) {
        all.radius.insert(all.radius.end(), b.radius.begin(), b.radius.end());
        all.status.insert(all.status.end(), b.status.begin(), b.status.end());
        all.balls_tried += b.balls_tried;
        if (all.note.empty()) all.note = b.note;
    }
    if (method == CertifyMethod::exact_lipschitz) all.note = exact_lipschitz_note(all.balls_tried, s.radius_cap);
    return all;
}

}  // namespace moelab
