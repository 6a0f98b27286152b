// C7's dual-model pieces (experiments/claims/jtdmoe.hpp): the logit-mixed dual model is (1 - alpha) z_S +
// alpha z_R and the probability-mixed one log((1 - alpha) p_S + alpha p_R); the JTDMoE family's robust half is
// bitwise the RT-ER model trained alone (so C6 and C7 may share it), its standard halves train, differ by mixing,
// and come back from the cache with the same bits.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>

#include "engine/clusters.hpp"
#include "experiments/claims/jtdmoe.hpp"
#include "tests/temp_dir.hpp"

using namespace moelab;
using namespace moelab::cli;

BOOST_AUTO_TEST_SUITE(claims_p2)

namespace {

ModelConfig small_moe_model(std::uint64_t seed) {
    ModelConfig c;
    c.kind = ModelKind::moe_model;
    c.input_dim = 6;
    c.classes = 2;
    c.hidden = 8;
    c.experts = 3;
    c.top_k = 1;
    c.seed = seed;
    return c;
}

DataSplits clusters(std::int64_t n_train) {
    ClusterSpec spec;
    spec.clusters = 4;
    spec.dim = 6;
    spec.classes = 2;
    spec.samples = n_train + n_train / 2;
    spec.separation = 3.0;
    spec.noise = 1.0;
    spec.seed = 5;
    const Dataset all = make_clusters(spec);
    return {subset(all, 0, n_train), subset(all, n_train, n_train / 2), false};
}

Tensor rows(std::int64_t n, std::int64_t d, std::uint64_t seed) {
    Tensor x(Shape{n, d});
    Rng rng(seed);
    for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = rng.uniform(static_cast<std::uint64_t>(i));
    return x;
}

bool same_bits(const Classifier& a, const Classifier& b) {
    const auto &pa = a.params().all(), &pb = b.params().all();
    if (pa.size() != pb.size()) return false;
    for (std::size_t i = 0; i < pa.size(); ++i) {
        const Tensor &x = pa[i].var.value(), &y = pb[i].var.value();
        if (x.numel() != y.numel() || std::memcmp(x.data(), y.data(), sizeof(double) * x.numel()) != 0) return false;
    }
    return true;
}

}  // namespace

BOOST_AUTO_TEST_CASE(dual_model_mixes_logits_or_probabilities) {
    const Classifier s(small_moe_model(1)), r(small_moe_model(2));
    const Tensor x = rows(7, 6, 3);
    const Tensor zs = s.forward(Var(x)).logits.value(), zr = r.forward(Var(x)).logits.value();
    const double alpha = 0.3;
    const Tensor zl = attack_logits(mixed_dual_model(s, r, alpha, DualMix::logits), x);
    const Tensor zp = attack_logits(mixed_dual_model(s, r, alpha, DualMix::probabilities), x);
    for (std::int64_t b = 0; b < 7; ++b) {
        double ns = 0.0, nr = 0.0;
        for (std::int64_t c = 0; c < 2; ++c) ns += std::exp(zs.at(b, c)), nr += std::exp(zr.at(b, c));
        for (std::int64_t c = 0; c < 2; ++c) {
            BOOST_TEST(zl.at(b, c) == 0.7 * zs.at(b, c) + 0.3 * zr.at(b, c), boost::test_tools::tolerance(1e-12));
            const double pd = 0.7 * std::exp(zs.at(b, c)) / ns + 0.3 * std::exp(zr.at(b, c)) / nr;
            BOOST_TEST(zp.at(b, c) == std::log(pd), boost::test_tools::tolerance(1e-12));
        }
    }
}

BOOST_AUTO_TEST_CASE(jtdmoe_family_robust_half_is_rt_er_alone_and_reloads) {
    const moelab::testing::TempDir dir("claims_p2");
    P2Setup s;
    s.data = clusters(160);
    s.model = small_moe_model(9);
    s.train.epochs = 1;
    s.train.batch_size = 40;
    s.train.optimizer.lr = 3e-3;
    s.attack.eps = 0.3;
    s.attack.steps = 3;
    s.attack.domain = Box{};
    s.seed = 4;
    const std::vector<double> alphas{0.3, 0.7};

    Classifier alone(s.model);
    Optimizer alone_opt(alone.params(), s.train.optimizer);
    TrainState alone_state;
    RtErOptions o;
    o.attack = s.attack;
    o.beta = s.beta;
    TrainHooks hooks;
    hooks.batch_loss = rt_er_batch_loss(o);
    train(alone, alone_opt, s.data.train, s.data.test, s.train, alone_state, hooks);

    const JtdmoeFamily f = p2_jtdmoe_family(dir.path, s, alphas, kDualMixes);
    BOOST_TEST(same_bits(*f.robust, alone));
    const Classifier init(s.model);
    BOOST_TEST(!same_bits(f.standard_at(0, 0), init));                    // the standard halves trained
    BOOST_TEST(!same_bits(f.standard_at(0, 0), f.standard_at(1, 0)));     // logit and probability mixing differ
    BOOST_TEST(!same_bits(f.standard_at(0, 0), f.standard_at(0, 1)));     // and so do the alphas
    const JtdmoeFamily again = p2_jtdmoe_family(dir.path, s, alphas, kDualMixes);   // from the cache
    BOOST_TEST(same_bits(*again.robust, *f.robust));
    for (std::size_t m = 0; m < 2; ++m)
        for (std::size_t a = 0; a < alphas.size(); ++a) BOOST_TEST(same_bits(again.standard_at(m, a), f.standard_at(m, a)));
}

BOOST_AUTO_TEST_SUITE_END()
