// The MILP back-ends (theory/exact/milp_backend.hpp): GLPK and CBC give the same exact minimal distance, each
// with a minimiser the exact rational forward pass misclassifies; an unknown name is refused by its key.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>

#include "engine/config_error.hpp"
#include "tests/gradcheck.hpp"
#include "theory/exact/exact.hpp"
#include "theory/network/rational_check.hpp"

using namespace moelab;
using moelab::testing::random_tensor;

namespace {

void sharpen(Classifier& model, double factor) {
    for (const auto& p : model.params().all()) {
        Var v = p.var;
        for (std::int64_t i = 0; i < v.value().numel(); ++i) v.value()[i] *= factor;
    }
}

ModelConfig small_model(ModelKind kind, std::uint64_t seed) {
    ModelConfig c;
    c.kind = kind;
    c.input_dim = 4;
    c.classes = 3;
    c.width = 4;
    c.hidden = 4;
    c.experts = 3;
    c.top_k = 1;
    c.gate = GateMode::topk_then_softmax;
    c.seed = seed;
    return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(milp_backends)

BOOST_AUTO_TEST_CASE(glpk_and_cbc_give_the_same_verified_minimal_distance) {
    int compared = 0;
    for (ModelKind kind : {ModelKind::mlp, ModelKind::moe_model, ModelKind::moe}) {
        Classifier model(small_model(kind, 11));
        sharpen(model, 3.0);
        const RationalModel exact(model);
        const Tensor xs = random_tensor(Shape{8, 4}, 21, 0.2, 0.8);
        for (std::int64_t b = 0; b < xs.rows(); ++b) {
            Tensor x(Shape{1, 4});
            for (std::int64_t i = 0; i < 4; ++i) x[i] = xs.at(b, i);
            const int y = exact.predict(x.data());
            ExactOptions o;
            o.radius_cap = 1.0;
            o.domain = Box{0.0, 1.0};
            o.backend = MilpBackend::glpk;
            const ExactResult g = exact_min_distance_linf(model, x, y, o);
            o.backend = MilpBackend::cbc;
            const ExactResult c = exact_min_distance_linf(model, x, y, o);
            BOOST_TEST_REQUIRE((g.status == c.status), "sample " << b << ": glpk " << g.note << " | cbc " << c.note);
            if (g.status != ExactStatus::optimal) continue;
            ++compared;
            BOOST_TEST(std::abs(g.lower - c.lower) <= 1e-6 * std::max(1.0, g.lower), g.lower << " vs " << c.lower);
            BOOST_TEST(std::abs(g.upper - c.upper) <= 1e-6 * std::max(1.0, g.upper), g.upper << " vs " << c.upper);
            BOOST_TEST(exact.adversarial(g.x_adv.data(), y));
            BOOST_TEST(exact.adversarial(c.x_adv.data(), y));
        }
    }
    BOOST_TEST(compared >= 6, compared << " samples solved to optimality by both");
}

BOOST_AUTO_TEST_CASE(an_unknown_backend_name_is_refused_by_its_key) {
    BOOST_TEST((parse_milp_backend("cbc") == MilpBackend::cbc));
    BOOST_TEST((parse_milp_backend("glpk") == MilpBackend::glpk));
    try {
        parse_milp_backend("gurobi");
        BOOST_TEST(false, "no throw");
    } catch (const ConfigError& e) {
        BOOST_TEST(e.key == "milp-solver");
        BOOST_TEST(std::string(e.what()).find("gurobi") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
