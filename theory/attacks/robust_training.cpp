#include "theory/attacks/robust_training.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/config_error.hpp"
#include "engine/ops.hpp"

namespace moelab {

namespace {

AttackOptions attack_options(const TrainingAttack& a, const Rng& stream) {
    AttackOptions o;
    o.norm = a.norm;
    o.eps = a.eps;
    o.steps = a.steps;
    o.step_size = a.step_size;
    o.restarts = 1;
    o.random_start = true;
    o.loss = AttackLoss::ce;
    o.seed = stream.key();
    return o;
}

// Expert `e` of the (only) MoE layer of a model-level MoE, as a classifier on the input.
AttackModel expert_attack_model(const Classifier& model, std::int64_t e, Box domain) {
    AttackModel m;
    m.domain = domain;
    m.params = &model.params();
    const MLP& expert = model.moe_layers().front().experts[static_cast<std::size_t>(e)];
    m.logits = [&expert](const Var& x) { return expert.forward(x); };
    return m;
}

void require_model_level_moe(const Classifier& model, const char* who) {
    if (model.config().kind != ModelKind::moe_model || model.config().experts < 2)
        throw std::invalid_argument(std::string(who) +
                                    ": needs a model-level MoE (kind moe-model) with at least 2 experts, whose experts "
                                    "are whole classifiers (P2); got kind " + to_string(model.config().kind) + " with " +
                                    std::to_string(model.config().experts) + " experts");
}

Tensor rows_of(const Tensor& x, const std::vector<std::int64_t>& rows) {
    const std::int64_t d = x.cols();
    Tensor out(Shape{static_cast<std::int64_t>(rows.size()), d});
    for (std::size_t j = 0; j < rows.size(); ++j)
        std::copy_n(x.data() + rows[j] * d, d, out.data() + static_cast<std::int64_t>(j) * d);
    return out;
}

// -mean_b log F_D,y_b with F_D = (1 - alpha) softmax(standard_logits) + alpha softmax(F_R(x)), F_R held fixed.
Var dual_nll(const Var& standard_logits, const Classifier& robust, double alpha, const Tensor& x, const std::vector<int>& y) {
    Var pr;
    {
        FrozenParams frozen(robust.params());
        pr = softmax(robust.forward(Var(x)).logits);
    }
    const Var pd = add(mul_scalar(softmax(standard_logits), 1.0 - alpha), mul_scalar(pr, alpha));
    const std::vector<std::int64_t> index(y.begin(), y.end());
    return mul_scalar(mean_all(log(gather_cols(pd, index, 1))), -1.0);
}

std::vector<std::vector<std::int64_t>> rows_by_expert(const std::vector<std::int64_t>& expert, std::int64_t E) {
    std::vector<std::vector<std::int64_t>> rows(static_cast<std::size_t>(E));
    for (std::size_t b = 0; b < expert.size(); ++b) rows[static_cast<std::size_t>(expert[b])].push_back(static_cast<std::int64_t>(b));
    return rows;
}

}  // namespace

void TrainingAttack::validate() const {
    AttackOptions o;
    o.norm = norm;
    o.eps = eps;
    o.steps = steps;
    o.step_size = step_size;
    o.validate();
}

void RtErOptions::validate() const {
    attack.validate();
    if (!(beta >= 0.0) || !std::isfinite(beta)) throw ConfigError("beta", "must be a finite number >= 0");
}

void JtdmoeOptions::validate() const {
    robust.validate();
    if (!(alpha >= 0.0 && alpha <= 1.0)) throw ConfigError("alpha", "must be in [0, 1], got " + std::to_string(alpha));
}

BatchLossFn pgd_adversarial_batch_loss(const TrainingAttack& attack) {
    attack.validate();
    return [attack](Classifier& model, const Tensor& x, const std::vector<int>& labels, const ForwardOptions& fo,
                    const TrainConfig& config) {
        const AttackResult r = pgd(classifier_attack_model(model, attack.domain), x, labels,
                                   attack_options(attack, fo.rng.split("pgd_train")));
        return standard_batch_loss(model, r.x_adv, labels, fo, config);
    };
}

std::vector<std::int64_t> second_ranked_experts(const Classifier& model, const Tensor& x) {
    // The router of a model-level MoE scores the input itself (moe/model.hpp).
    require_model_level_moe(model, "second_ranked_experts");
    NoGradGuard no_grad;
    const Routing routing = model.moe_layers().front().router.route(Var(x), false, Rng(0));
    const std::vector<std::int64_t> top2 = topk(routing.logits.value(), 2);
    std::vector<std::int64_t> second(static_cast<std::size_t>(x.rows()));
    for (std::size_t b = 0; b < second.size(); ++b) second[b] = top2[2 * b + 1];
    return second;
}

RtErPoints rt_er_points(const Classifier& model, const Tensor& x, const std::vector<int>& y, const TrainingAttack& attack,
                        const Rng& step_rng) {
    require_model_level_moe(model, "rt-er");
    RtErPoints p;
    p.x_adv = pgd(classifier_attack_model(model, attack.domain), x, y, attack_options(attack, step_rng.split("pgd_train"))).x_adv;
    p.second = second_ranked_experts(model, x);
    p.x_expert_adv = x;
    const auto groups = rows_by_expert(p.second, model.config().experts);
    const std::int64_t d = x.cols();
    for (std::size_t e = 0; e < groups.size(); ++e) {
        if (groups[e].empty()) continue;
        std::vector<int> ye;
        for (std::int64_t b : groups[e]) ye.push_back(y[static_cast<std::size_t>(b)]);
        const AttackResult r = pgd(expert_attack_model(model, static_cast<std::int64_t>(e), attack.domain),
                                   rows_of(x, groups[e]), ye, attack_options(attack, step_rng.split("rt_er").split(e)));
        for (std::size_t j = 0; j < groups[e].size(); ++j)
            std::copy_n(r.x_adv.data() + static_cast<std::int64_t>(j) * d, d, p.x_expert_adv.data() + groups[e][j] * d);
    }
    return p;
}

Var rt_er_expert_term(const Classifier& model, const Tensor& x, const Tensor& x_expert_adv,
                      const std::vector<std::int64_t>& second) {
    require_model_level_moe(model, "rt-er");
    if (static_cast<std::int64_t>(second.size()) != x.rows() || x_expert_adv.shape() != x.shape())
        throw std::invalid_argument("rt-er: " + std::to_string(second.size()) + " experts and adversarial points " +
                                    x_expert_adv.shape().str() + " for a batch " + x.shape().str());
    const auto& experts = model.moe_layers().front().experts;
    const auto groups = rows_by_expert(second, model.config().experts);
    Var total;
    for (std::size_t e = 0; e < groups.size(); ++e) {
        if (groups[e].empty()) continue;
        // KL(p || q) = sum_c p_c (log p_c - log q_c), p from the clean input, q from the expert-adversarial one.
        const Var clean = experts[e].forward(Var(rows_of(x, groups[e])));
        const Var adv = experts[e].forward(Var(rows_of(x_expert_adv, groups[e])));
        const Var kl = sum_all(mul(softmax(clean), sub(log_softmax(clean), log_softmax(adv))));
        total = total.defined() ? add(total, kl) : kl;
    }
    return mul_scalar(total, 1.0 / static_cast<double>(x.rows()));
}

BatchLoss rt_er_loss(Classifier& model, const Tensor& x, const RtErPoints& points, const std::vector<int>& y,
                     const ForwardOptions& fo, const TrainConfig& config, double beta) {
    BatchLoss b = standard_batch_loss(model, points.x_adv, y, fo, config);
    const Var reg = mul_scalar(rt_er_expert_term(model, x, points.x_expert_adv, points.second), beta);
    b.aux = b.aux.defined() ? add(b.aux, reg) : reg;
    b.loss = add(b.loss, reg);
    return b;
}

BatchLossFn rt_er_batch_loss(const RtErOptions& options) {
    options.validate();
    return [options](Classifier& model, const Tensor& x, const std::vector<int>& labels, const ForwardOptions& fo,
                     const TrainConfig& config) {
        return rt_er_loss(model, x, rt_er_points(model, x, labels, options.attack, fo.rng), labels, fo, config,
                          options.beta);
    };
}

Var dual_model_nll(const Classifier& standard, const Classifier& robust, double alpha, const Tensor& x,
                   const std::vector<int>& y, const ForwardOptions& standard_fo) {
    return dual_nll(standard.forward(Var(x), standard_fo).logits, robust, alpha, x, y);
}

BatchLossFn jtdmoe_batch_loss(Classifier& standard, Optimizer& standard_optimizer, const Optimizer& robust_optimizer,
                              const JtdmoeOptions& options) {
    options.validate();
    const BatchLossFn robust_loss = rt_er_batch_loss(options.robust);
    return [&standard, &standard_optimizer, &robust_optimizer, options, robust_loss](
               Classifier& robust, const Tensor& x, const std::vector<int>& labels, const ForwardOptions& fo,
               const TrainConfig& config) {
        if (standard.config().classes != robust.config().classes || standard.config().input_dim != robust.config().input_dim)
            throw std::invalid_argument("jtdmoe: the standard and robust models differ in input dimension or classes");
        // Upper level: one step of F_S on the dual model's clean loss and F_S's routing losses, F_R fixed.
        ForwardOptions sfo = fo;
        sfo.rng = fo.rng.split("jtdmoe_standard");
        standard_optimizer.set_lr(robust_optimizer.lr());
        standard_optimizer.zero_grad();
        const ModelOutput so = standard.forward(Var(x), sfo);
        Var loss = dual_nll(so.logits, robust, options.alpha, x, labels);
        const Var aux = standard.aux_loss(so, config.lb_weight, config.z_weight, config.lb_convention);
        if (aux.defined()) loss = add(loss, aux);
        if (!std::isfinite(loss.value().item()))
            throw std::runtime_error("training diverged: the standard model's JTDMoE loss is " +
                                     std::to_string(loss.value().item()));
        backward(loss);
        standard_optimizer.step();
        standard_optimizer.zero_grad();
        // Lower level: F_R's RT-ER loss, stepped by moe::train.
        return robust_loss(robust, x, labels, fo, config);
    };
}

void train_jtdmoe(Classifier& standard, Optimizer& standard_optimizer, Classifier& robust, Optimizer& robust_optimizer,
                  const Dataset& train_set, const Dataset& test_set, const TrainConfig& config, TrainState& robust_state,
                  const JtdmoeOptions& options, TrainHooks hooks) {
    hooks.batch_loss = jtdmoe_batch_loss(standard, standard_optimizer, robust_optimizer, options);
    train(robust, robust_optimizer, train_set, test_set, config, robust_state, hooks);
}

}  // namespace moelab
