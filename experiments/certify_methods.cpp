#include "experiments/certify_methods.hpp"

#include <cmath>
#include <stdexcept>

#include "theory/crown.hpp"
#include "theory/ibp.hpp"
#include "theory/lipschitz.hpp"
#include "theory/outward_rounding.hpp"
#include "theory/smoothing.hpp"

namespace moelab::cli {

MethodRadii certify_by_method(const std::string& method, const Classifier& model, const Dataset& test, Norm norm,
                              Box domain, double sigma, std::int64_t draws) {
    MethodRadii r;
    const auto n = static_cast<std::size_t>(test.size());
    r.status.assign(n, "");
    if (method == "lipschitz" || method == "naive") {
        CertifiedRadii c = certify_lipschitz(network_of(model), test.x, test.y, norm, method == "naive");
        r.radius = std::move(c.radius);
        r.note = c.note;
    } else if (method == "ibp") {
        r.radius = ibp_certified_radii(network_of(model), test.x, test.y, domain);
        if (norm == Norm::l2) r.note = "l2: the certified L-inf box contains the L2 ball of the same radius";
    } else if (method == "crown") {
        const Network net = network_of(model);
        r.note = crown_support(net);
        r.radius = crown_certified_radii(net, test.x, test.y, domain);
        if (norm == Norm::l2 && r.note.empty()) r.note = "l2: the certified L-inf box contains the L2 ball";
    } else if (method == "smoothing") {
        SmoothingOptions so;
        so.sigma = sigma;
        so.n = draws;
        const auto s = certify_smoothing(model, test.x, test.y, so);
        for (std::size_t i = 0; i < n; ++i) {
            r.radius.push_back(s[i].radius);
            r.status[i] = s[i].predicted < 0 ? "abstain" : "probabilistic";
        }
    } else {
        throw std::invalid_argument("certify: method '" + method + "' is not one of lipschitz, naive, ibp, crown, smoothing");
    }
    for (std::size_t i = 0; i < n; ++i) {
        // The floating-point certificates' rounding charge (theory/outward_rounding.hpp).
        if (method != "smoothing") r.radius[i] = float_radius_outward(r.radius[i]);
        if (r.status[i].empty()) r.status[i] = std::isnan(r.radius[i]) ? "unsupported" : "sound";
    }
    return r;
}

}  // namespace moelab::cli
