#include "experiments/claims/jtdmoe.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "engine/ops.hpp"
#include "experiments/claims/common.hpp"
#include "theory/bounds/dual.hpp"

using nlohmann::json;

namespace moelab::cli {

const char* to_string(DualMix mix) { return mix == DualMix::logits ? "logits" : "probabilities"; }

AttackModel mixed_dual_model(const Classifier& standard, const Classifier& robust, double alpha, DualMix mix) {
    if (mix == DualMix::probabilities) return dual_attack_model(standard, robust, alpha, kImageBox);
    check_alpha(alpha);
    AttackModel m;
    m.logits = [&standard, &robust, alpha](const Var& x) {
        FrozenParams fs(standard.params()), fr(robust.params());
        return add(mul_scalar(standard.forward(x).logits, 1.0 - alpha), mul_scalar(robust.forward(x).logits, alpha));
    };
    m.domain = kImageBox;
    return m;
}

namespace {

std::string head_name(const P2Setup& s, DualMix mix, double alpha) {
    char b[64];
    std::snprintf(b, sizeof b, "p2-jtdmoe-%s-a%g", mix == DualMix::logits ? "logit" : "prob", alpha);
    return s.name(b);
}

json head_recipe(const P2Setup& s, DualMix mix, double alpha) {
    return {{"recipe", "jtdmoe"}, {"mix", to_string(mix)}, {"alpha", alpha}, {"robust", p2_rt_er_recipe(s)}};
}

// The dual model's clean loss for F_S's logits zs, F_R's logits zr held as constants: cross-entropy of the mixed
// logits, or -log of the mixed probabilities.
Var dual_clean_loss(const Var& zs, const Tensor& zr, double alpha, DualMix mix, const std::vector<int>& y) {
    if (mix == DualMix::logits) return cross_entropy(add(mul_scalar(zs, 1.0 - alpha), mul_scalar(Var(zr), alpha)), y);
    const Var pd = add(mul_scalar(softmax(zs), 1.0 - alpha), mul_scalar(softmax(Var(zr)), alpha));
    const std::vector<std::int64_t> index(y.begin(), y.end());
    return mul_scalar(mean_all(log(gather_cols(pd, index, 1))), -1.0);
}

struct Head {
    DualMix mix;
    double alpha;
    std::unique_ptr<Classifier> model;
    std::unique_ptr<Optimizer> opt;
};

// Every head's upper-level step at F_R's current weights, then F_R's RT-ER loss (stepped by moe::train).
BatchLossFn family_loss(std::vector<Head>& heads, const Optimizer& robust_opt, const RtErOptions& o) {
    const BatchLossFn robust_loss = rt_er_batch_loss(o);
    return [&heads, &robust_opt, robust_loss](Classifier& robust, const Tensor& x, const std::vector<int>& y,
                                              const ForwardOptions& fo, const TrainConfig& config) {
        Tensor zr;
        {
            NoGradGuard no_grad;
            zr = robust.forward(Var(x)).logits.value();
        }
        for (std::size_t h = 0; h < heads.size(); ++h) {
            Head& head = heads[h];
            ForwardOptions sfo = fo;
            sfo.rng = fo.rng.split("jtdmoe_standard").split(h);
            head.opt->set_lr(robust_opt.lr());
            head.opt->zero_grad();
            const ModelOutput so = head.model->forward(Var(x), sfo);
            Var loss = dual_clean_loss(so.logits, zr, head.alpha, head.mix, y);
            const Var aux = head.model->aux_loss(so, config.lb_weight, config.z_weight, config.lb_convention);
            if (aux.defined()) loss = add(loss, aux);
            if (!std::isfinite(loss.value().item()))
                throw std::runtime_error("training diverged: a JTDMoE standard half's loss is " + std::to_string(loss.value().item()));
            backward(loss);
            head.opt->step();
            head.opt->zero_grad();
        }
        return robust_loss(robust, x, y, fo, config);
    };
}

JtdmoeFamily load_family(const std::string& root, const P2Setup& s, const std::vector<double>& alphas,
                         const std::vector<DualMix>& mixes) {
    JtdmoeFamily f{alphas, mixes, cached(root, p2_rt_er_name(s), s.model, s.train, "fashion-mnist", p2_rt_er_recipe(s)), {}};
    for (DualMix mix : mixes)
        for (double a : alphas)
            f.standard.push_back(cached(root, head_name(s, mix, a), s.model, s.train, "fashion-mnist", head_recipe(s, mix, a)));
    return f;
}

}  // namespace

JtdmoeFamily p2_jtdmoe_family(const std::string& root, const P2Setup& s, const std::vector<double>& alphas,
                              const std::vector<DualMix>& mixes) {
    if (s.beta != 6.0) throw std::invalid_argument("p2_jtdmoe_family: the family's robust half is RT-ER at beta 6");
    JtdmoeFamily f = load_family(root, s, alphas, mixes);
    bool complete = f.robust != nullptr;
    for (const auto& m : f.standard) complete &= m != nullptr;
    if (complete) return f;
    std::fprintf(stderr, "repro: training %s with %zu JTDMoE standard halves (RT-ER beta %g, %d epochs)\n",
                 p2_rt_er_name(s).c_str(), alphas.size() * mixes.size(), s.beta, s.train.epochs);
    // Each F_S starts from the standard model's initialisation (the model seed), as separate training does.
    std::vector<Head> heads;
    for (DualMix mix : mixes)
        for (double a : alphas) {
            Head h{mix, a, std::make_unique<Classifier>(s.model), nullptr};
            h.opt = std::make_unique<Optimizer>(h.model->params(), s.train.optimizer);
            heads.push_back(std::move(h));
        }
    auto robust = std::make_unique<Classifier>(s.model);
    Optimizer ropt(robust->params(), s.train.optimizer);
    RtErOptions o;
    o.attack = s.attack;
    o.beta = s.beta;
    TrainHooks hooks;
    hooks.batch_loss = family_loss(heads, ropt, o);
    hooks.on_epoch = [&s](const TrainState& st, const Optimizer&) {
        std::fprintf(stderr, "repro:   %s epoch %d/%d: test accuracy %.4f\n", p2_rt_er_name(s).c_str(), st.history.back().epoch,
                     s.train.epochs, st.history.back().test_accuracy);
    };
    TrainState state;
    train(*robust, ropt, s.data.train, s.data.test, s.train, state, hooks);
    store(root, p2_rt_er_name(s), *robust, ropt, s.train, state, "fashion-mnist", p2_rt_er_recipe(s));
    f.robust = std::move(robust);
    f.standard.clear();
    for (Head& h : heads) {
        store(root, head_name(s, h.mix, h.alpha), *h.model, *h.opt, s.train, state, "fashion-mnist", head_recipe(s, h.mix, h.alpha));
        f.standard.push_back(std::move(h.model));
    }
    return f;
}

}  // namespace moelab::cli
