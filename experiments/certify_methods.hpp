// moelab command line: the certificate methods that `moelab certify` and `moelab sweep` share (lipschitz,
// naive, ibp, crown, smoothing). The MILP, P2's bound and the dual model are `certify`'s alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/dataset.hpp"
#include "moe/model.hpp"
#include "theory/attack.hpp"

namespace moelab::cli {

inline const std::vector<std::string> kSharedCertifyMethods{"lipschitz", "naive", "ibp", "crown", "smoothing"};

// Per sample a radius and a status ("probabilistic" or "abstain" for smoothing; "sound", or "unsupported"
// where the radius is NaN, for the others), and one note for the run (empty when there is nothing to say).
struct MethodRadii {
    std::vector<double> radius;
    std::vector<std::string> status;
    std::string note;
};

// method: one of kSharedCertifyMethods (throws std::invalid_argument otherwise). sigma and draws are the
// smoothing parameters; domain bounds the inputs for IBP and CROWN.
MethodRadii certify_by_method(const std::string& method, const Classifier& model, const Dataset& test, Norm norm,
                              Box domain, double sigma, std::int64_t draws);

}  // namespace moelab::cli
