#include "theory/network/finite_guard.hpp"

#include <cmath>
#include <stdexcept>

#include "engine/finite_check.hpp"

namespace moelab {

namespace {

constexpr const char* kWhere = "weights";
constexpr const char* kWhy = "; no certificate is computed for such a model";

void check_map(const AffineMap& m, const std::string& name) {
    try {
        require_finite(m.w, name + ".weight", kWhere);
        require_finite(m.b, name + ".bias", kWhere);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(e.what() + std::string(kWhy));
    }
}

void check_chain(const MapChain& c, const std::string& name) {
    for (std::size_t i = 0; i < c.size(); ++i) check_map(c[i], name + ".fc" + std::to_string(i + 1));
}

void check_moe(const MoEStage& s, const std::string& name) {
    check_map(s.router, name + ".router");
    for (std::size_t e = 0; e < s.experts.size(); ++e) check_chain(s.experts[e], name + ".experts." + std::to_string(e));
}

}  // namespace

void require_finite_weights(const Classifier& model) {
    for (const auto& p : model.params().all()) {
        try {
            require_finite(p.var.value(), p.name, kWhere);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(e.what() + std::string(kWhy));
        }
    }
}

void require_finite_network(const Network& net) {
    for (std::size_t i = 0; i < net.stages.size(); ++i) {
        const Stage& st = net.stages[i];
        const std::string name = "stage" + std::to_string(i);
        if (st.kind == Stage::Kind::affine) check_map(st.map, name);
        if (st.kind == Stage::Kind::chain) check_chain(st.chain, name);
        if (st.kind == Stage::Kind::moe) check_moe(st.moe, name);
    }
}

void require_finite_bound(double v, const std::string& what) {
    if (!std::isfinite(v))
        throw std::domain_error(what + " is " + non_finite_name(v) + ", not finite: refusing to certify with it");
}

}  // namespace moelab
