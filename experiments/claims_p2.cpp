// Claims of P2 (Zhang, Xu, Hu, Wang, ICML 2025): C5 experts weaker than the router, C6 RT-ER vs adversarial
// training, C7 the dual model over alpha and JTDMoE vs separate training. The models are in claims_p2.hpp.
#include "experiments/claims_p2.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "experiments/claims_common.hpp"
#include "experiments/claims_drivers.hpp"
#include "theory/dual.hpp"
#include "theory/attack_harness.hpp"

using nlohmann::json;

namespace moelab::cli {

P2Setup p2_setup(const ReproProfile& p) {
    P2Setup s;
    s.data = load_data("fashion-mnist", p.train_limit, p.robust_test_samples);
    s.model.kind = ModelKind::moe_model;
    s.model.input_dim = 784;
    s.model.classes = 10;
    s.model.hidden = 64;
    s.model.experts = 4;
    s.model.top_k = 1;
    s.model.seed = 1;
    s.train.epochs = static_cast<int>(p.epochs);
    s.train.schedule = LrSchedule::cosine;
    s.train.optimizer.lr = 3e-3;   // at 1e-3 the plain model reaches 0.80 in the quick profile's 3 epochs, at 3e-3 0.84
    s.attack.norm = Norm::linf;
    s.attack.eps = 0.1;
    s.attack.steps = p.train_attack_steps;
    s.attack.domain = kImageBox;
    return s;
}

namespace {

json attack_json(const TrainingAttack& a) {
    return {{"norm", to_string(a.norm)}, {"eps", a.eps}, {"steps", a.steps}, {"step_size", a.step_size}};
}

json rt_er_recipe(const P2Setup& s) { return {{"recipe", "rt-er"}, {"attack", attack_json(s.attack)}, {"beta", s.beta}}; }

json jtdmoe_recipe(const P2Setup& s) {
    return {{"recipe", "jtdmoe"}, {"attack", attack_json(s.attack)}, {"beta", s.beta}, {"alpha", s.joint_alpha}};
}

}  // namespace

std::unique_ptr<Classifier> p2_standard(const std::string& root, const P2Setup& s) {
    return trained(root, "p2-standard", s.model, s.train, "fashion-mnist", s.data);
}

std::unique_ptr<Classifier> p2_pgd_at(const std::string& root, const P2Setup& s) {
    TrainHooks hooks;
    hooks.batch_loss = pgd_adversarial_batch_loss(s.attack);
    return trained(root, "p2-pgd-at", s.model, s.train, "fashion-mnist", s.data,
                   {{"recipe", "pgd-at"}, {"attack", attack_json(s.attack)}}, hooks);
}

std::unique_ptr<Classifier> p2_rt_er(const std::string& root, const P2Setup& s) {
    RtErOptions o;
    o.attack = s.attack;
    o.beta = s.beta;
    TrainHooks hooks;
    hooks.batch_loss = rt_er_batch_loss(o);
    return trained(root, "p2-rt-er", s.model, s.train, "fashion-mnist", s.data, rt_er_recipe(s), hooks);
}

DualModels p2_dual_models(const std::string& root, const ReproProfile& p) {
    DualModels d;
    d.setup = p2_setup(p);
    const P2Setup& s = d.setup;
    d.standard = p2_standard(root, s);
    d.robust = p2_rt_er(root, s);
    // JTDMoE: F_S starts from the standard model's initialisation, F_R from the robust one's (the same seeds as
    // separate training, so the comparison isolates the joint objective).
    const json recipe = jtdmoe_recipe(s);
    d.joint_standard = cached(root, "p2-jtdmoe-standard", s.model, s.train, "fashion-mnist", recipe);
    d.joint_robust = cached(root, "p2-jtdmoe-robust", s.model, s.train, "fashion-mnist", recipe);
    if (!d.joint_standard || !d.joint_robust) {
        std::fprintf(stderr, "repro: training p2-jtdmoe-standard and p2-jtdmoe-robust jointly (alpha %.2f, %d epochs)\n",
                     s.joint_alpha, s.train.epochs);
        d.joint_standard = std::make_unique<Classifier>(s.model);
        d.joint_robust = std::make_unique<Classifier>(s.model);
        Optimizer sopt(d.joint_standard->params(), s.train.optimizer), ropt(d.joint_robust->params(), s.train.optimizer);
        TrainState state;
        JtdmoeOptions o;
        o.alpha = s.joint_alpha;
        o.robust.attack = s.attack;
        o.robust.beta = s.beta;
        TrainHooks hooks;
        hooks.on_epoch = [&s](const TrainState& st, const Optimizer&) {
            std::fprintf(stderr, "repro:   p2-jtdmoe epoch %d/%d: robust model's test accuracy %.4f\n",
                         st.history.back().epoch, s.train.epochs, st.history.back().test_accuracy);
        };
        train_jtdmoe(*d.joint_standard, sopt, *d.joint_robust, ropt, s.data.train, s.data.test, s.train, state, o, hooks);
        TrainState standard_state = state;   // same steps; its per-epoch metrics are the robust model's
        store(root, "p2-jtdmoe-standard", *d.joint_standard, sopt, s.train, standard_state, "fashion-mnist", recipe);
        store(root, "p2-jtdmoe-robust", *d.joint_robust, ropt, s.train, state, "fashion-mnist", recipe);
    }
    return d;
}

namespace {

// Per test sample: correct at x, and correct at x and at the point of an L-inf PGD attack at eps.
struct Outcomes {
    std::vector<std::uint8_t> clean, robust;
    double sa() const { return mean(clean); }
    double ra() const { return mean(robust); }
    static double mean(const std::vector<std::uint8_t>& v) {
        double s = 0.0;
        for (auto b : v) s += b;
        return v.empty() ? 0.0 : s / static_cast<double>(v.size());
    }
};

Outcomes pgd_outcomes(const AttackModel& m, const Dataset& data, double eps, int steps) {
    Outcomes o;
    AttackOptions ao;
    ao.norm = Norm::linf;
    ao.eps = eps;
    ao.steps = steps;
    ao.seed = 5;
    const std::int64_t n = data.size(), d = data.dim(), batch = 250;
    for (std::int64_t b0 = 0; b0 < n; b0 += batch) {
        const std::int64_t m_rows = std::min(batch, n - b0);
        Tensor x(Shape{m_rows, d});
        std::copy_n(data.x.data() + b0 * d, m_rows * d, x.data());
        const std::vector<int> y(data.y.begin() + b0, data.y.begin() + b0 + m_rows);
        const AttackResult r = pgd(m, x, y, ao);
        for (std::int64_t i = 0; i < m_rows; ++i) {
            const auto u = static_cast<std::size_t>(i);
            o.clean.push_back(r.clean_pred[u] == y[u]);
            o.robust.push_back(r.clean_pred[u] == y[u] && r.adv_pred[u] == y[u]);
        }
    }
    return o;
}

}  // namespace

json run_c5(const std::string& dir, const ReproProfile& p) {
    const FashionModels f = fashion_models(root_of(dir), p);
    const double eps = 0.03;
    json ours = json::object();
    std::vector<std::pair<std::string, double>> rows;
    double sa = 0.0;
    // The paper's names for robust accuracy under each attack.
    for (const auto& [attack, name] : {std::pair{Attack::pgd, "RA"}, std::pair{Attack::expert, "RA-E"}, std::pair{Attack::router, "RA-R"}}) {
        AttackSpec spec;
        spec.attack = attack;
        spec.options.eps = eps;
        spec.options.steps = 10;
        spec.eps_grid = {eps};
        spec.domain = kImageBox;
        const RobustnessReport rep = run_attack(*f.moe, f.data.test, spec);
        sa = rep.clean_accuracy;
        ours[name] = rep.robust_accuracy;
        if (attack == Attack::router) ours["RA-R_top1_routing_changed"] = rep.top1_change_rate;
        rows.emplace_back(name, rep.robust_accuracy);
    }
    ours["SA"] = sa;
    ours["eps"] = eps;
    std::ostringstream csv;
    csv << "metric,accuracy\nSA," << sa << "\n";
    for (const auto& [name, acc] : rows) csv << name << "," << acc << "\n";
    write_file_atomic(dir + "/vulnerability.csv", csv.str());
    plot("claim_c5.gp", dir);
    const double rae = ours["RA-E"], rar = ours["RA-R"];
    const std::string verdict = rae < rar - 0.10 ? "reproduced" : rae > rar ? "not reproduced" : "inconclusive";
    return {{"paper", "P2 (CIFAR-10, standard MoE): RA-R above 50%, RA-E below 4%: the experts, not the router, are the weak link."},
            {"ours", ours},
            {"verdict", verdict},
            {"reason", "RA-E " + num(rae) + " vs RA-R " + num(rar) + " at L-inf eps " + num(eps, 2) +
                           ": the experts are the weak link if RA-E is below RA-R by more than 0.10"},
            {"figure", "vulnerability.png"}};
}

// C6: the same model-level MoE trained three ways (plain, PGD adversarial training, RT-ER), then SA, RA (PGD-20 on
// the whole model) and RA-E (PGD-20 on the experts with routing held) at the training radius. The comparison that
// decides is paired: the same test samples, McNemar's z on who is robust.
json run_c6(const std::string& dir, const ReproProfile& p) {
    const std::string root = root_of(dir);
    const P2Setup s = p2_setup(p);
    const auto standard = p2_standard(root, s);
    const auto at = p2_pgd_at(root, s);
    const auto rt = p2_rt_er(root, s);
    const double eps = s.attack.eps;
    json models = json::array();
    std::ostringstream csv;
    csv << "model,SA,RA,RA-E\n";
    std::vector<Outcomes> out;
    for (const auto& [name, m] : {std::pair<std::string, const Classifier*>{"standard", standard.get()},
                                  {"PGD-AT", at.get()}, {"RT-ER", rt.get()}}) {
        std::fprintf(stderr, "repro: C6 evaluating %s (PGD-20 and the expert attack on %lld images)\n", name.c_str(),
                     static_cast<long long>(s.data.test.size()));
        AttackSpec spec;
        spec.options.eps = eps;
        spec.options.steps = 20;
        spec.options.seed = 5;
        spec.eps_grid = {eps};
        spec.domain = kImageBox;
        spec.attack = Attack::pgd;
        const RobustnessReport whole = run_attack(*m, s.data.test, spec);
        spec.attack = Attack::expert;
        const RobustnessReport experts = run_attack(*m, s.data.test, spec);
        Outcomes o;
        for (const SampleRecord& r : whole.samples) {
            o.clean.push_back(r.clean_pred == r.label);
            o.robust.push_back(r.clean_pred == r.label && r.adv_pred == r.label);
        }
        out.push_back(o);
        models.push_back({{"model", name}, {"SA", o.sa()}, {"RA", o.ra()}, {"RA-E", experts.robust_accuracy},
                          {"top1_routing_changed_under_PGD", whole.top1_change_rate}});
        csv << "\"" << name << "\"," << o.sa() << "," << o.ra() << "," << experts.robust_accuracy << "\n";
    }
    write_file_atomic(dir + "/accuracy.csv", csv.str());
    plot("claim_c6.gp", dir);
    const Outcomes &o_at = out[1], &o_rt = out[2];
    const double z_ra = mcnemar_z(o_rt.robust, o_at.robust), z_sa = mcnemar_z(o_rt.clean, o_at.clean);
    const double d_ra = o_rt.ra() - o_at.ra(), d_sa = o_rt.sa() - o_at.sa();
    const std::string verdict = z_ra >= 2.0 && z_sa > -2.0 ? "reproduced" : z_ra <= -2.0 ? "not reproduced" : "inconclusive";
    return {{"paper", "P2 (CIFAR-10, 4 ResNet18 experts, top-1, L-inf 8/255): adversarial training of the whole MoE is "
                      "unstable and its robust accuracy stalls near 54% (the authors' summary); RT-ER reaches SA 77.81% and "
                      "RA 69.09% under PGD-50 (54.36% under AutoAttack), above adversarial training in both SA and RA "
                      "(P2's Table, as quoted by a third-party audit of the paper; we could not read the table itself)."},
            {"ours", {{"eps_linf", eps}, {"attack", "PGD-20"}, {"training_attack", "PGD-" + std::to_string(s.attack.steps)},
                      {"test_samples", s.data.test.size()}, {"models", models},
                      {"RA_RT-ER_minus_PGD-AT", d_ra}, {"SA_RT-ER_minus_PGD-AT", d_sa},
                      {"mcnemar_z_RA", z_ra}, {"mcnemar_z_SA", z_sa}}},
            {"verdict", verdict},
            {"reason", "RT-ER minus PGD adversarial training on the same " + std::to_string(s.data.test.size()) +
                           " test images: RA " + num(d_ra) + " (McNemar z " + num(z_ra, 2) + "), SA " + num(d_sa) +
                           " (z " + num(z_sa, 2) + "). Rule: reproduced if RT-ER is significantly more robust (z_RA >= 2) "
                           "without being significantly less accurate (z_SA > -2); not reproduced if significantly less "
                           "robust (z_RA <= -2); else inconclusive"},
            {"figure", "accuracy.png"}};
}

// C7: SA and RA (PGD-10 on the dual model, at the training radius, on the first profile.test_samples test images)
// of F_D = (1 - alpha) F_S + alpha F_R over alpha = 0, 0.1, ..., 1, for the separately trained pair (p2-standard,
// p2-rt-er) and the JTDMoE pair. PGD-10 and fewer images than C6: 22 dual models are attacked.
json run_c7(const std::string& dir, const ReproProfile& p) {
    const DualModels d = p2_dual_models(root_of(dir), p);
    const double eps = d.setup.attack.eps;
    const Dataset test = subset(d.setup.data.test, 0, std::min(p.test_samples, d.setup.data.test.size()));
    std::ostringstream csv;
    csv << "alpha,separate_SA,separate_RA,jtdmoe_SA,jtdmoe_RA\n";
    json rows = json::array();
    std::vector<double> sep_sa, sep_ra, joint_sa, joint_ra;
    for (int i = 0; i <= 10; ++i) {
        const double alpha = 0.1 * i;
        std::fprintf(stderr, "repro: C7 attacking the dual models at alpha %.1f\n", alpha);
        const Outcomes sep = pgd_outcomes(dual_attack_model(*d.standard, *d.robust, alpha, kImageBox), test, eps, 10);
        const Outcomes joint = pgd_outcomes(dual_attack_model(*d.joint_standard, *d.joint_robust, alpha, kImageBox), test, eps, 10);
        sep_sa.push_back(sep.sa());
        sep_ra.push_back(sep.ra());
        joint_sa.push_back(joint.sa());
        joint_ra.push_back(joint.ra());
        csv << num(alpha, 1) << "," << sep.sa() << "," << sep.ra() << "," << joint.sa() << "," << joint.ra() << "\n";
        rows.push_back({{"alpha", alpha}, {"separate", {{"SA", sep.sa()}, {"RA", sep.ra()}}},
                        {"jtdmoe", {{"SA", joint.sa()}, {"RA", joint.ra()}}}});
    }
    write_file_atomic(dir + "/alpha.csv", csv.str());
    plot("claim_c7.gp", dir);
    // (a) Smooth trade-off of the separately trained dual model: SA never rises and RA never falls by more than the
    // tolerance between neighbouring alphas, and the ends differ (SA(0) > SA(1), RA(1) > RA(0)).
    const double tol = 0.02;
    double worst_sa_rise = 0.0, worst_ra_fall = 0.0;
    for (std::size_t i = 1; i < sep_sa.size(); ++i) {
        worst_sa_rise = std::max(worst_sa_rise, sep_sa[i] - sep_sa[i - 1]);
        worst_ra_fall = std::max(worst_ra_fall, sep_ra[i - 1] - sep_ra[i]);
    }
    const bool trade_off = sep_sa.front() > sep_sa.back() && sep_ra.back() > sep_ra.front();
    const bool monotone = worst_sa_rise <= tol && worst_ra_fall <= tol;
    // (b) JTDMoE above separate training: SA + RA higher at the interior alphas (0 < alpha < 1).
    int above = 0, below = 0;
    for (std::size_t i = 1; i + 1 < sep_sa.size(); ++i) {
        const double gain = (joint_sa[i] + joint_ra[i]) - (sep_sa[i] + sep_ra[i]);
        above += gain > 0.0;
        below += gain < 0.0;
    }
    bool robust_identical = true;
    for (std::size_t i = 0; i < d.robust->params().all().size(); ++i) {
        const Tensor &a = d.robust->params().all()[i].var.value(), &b = d.joint_robust->params().all()[i].var.value();
        for (std::int64_t j = 0; j < a.numel(); ++j) robust_identical &= a[j] == b[j];
    }
    const int interior = static_cast<int>(sep_sa.size()) - 2;
    const std::string trade_off_verdict = trade_off && monotone ? "reproduced" : "not reproduced";
    const std::string jtdmoe_verdict = above * 3 >= interior * 2 ? "reproduced" : above * 3 <= interior ? "not reproduced"
                                                                                                       : "inconclusive";
    // The claim has both parts: it stands only if both do.
    const std::string verdict = trade_off_verdict == "reproduced" && jtdmoe_verdict == "reproduced" ? "reproduced"
                                : trade_off_verdict == "not reproduced" || jtdmoe_verdict == "not reproduced"
                                    ? "not reproduced"
                                    : "inconclusive";
    return {{"paper", "P2 (CIFAR-10 and TinyImageNet): the dual model F_D = (1 - alpha) F_S + alpha F_R moves from the "
                      "standard model's SA to the robust model's RA as alpha grows, giving flexible control of the "
                      "robustness-accuracy trade-off; JTDMoE's joint training raises both SA and RA beyond what separately "
                      "trained models reach (numbers per alpha are in P2's tables, which we could not read)."},
            {"ours", {{"eps_linf", eps}, {"attack", "PGD-10"}, {"test_samples", test.size()}, {"jtdmoe_alpha", d.setup.joint_alpha},
                      {"rows", rows}, {"separate_worst_SA_rise", worst_sa_rise}, {"separate_worst_RA_fall", worst_ra_fall},
                      {"jtdmoe_above_at_interior_alphas", above}, {"jtdmoe_below_at_interior_alphas", below},
                      {"jtdmoe_robust_half_equals_rt_er", robust_identical},
                      {"trade_off_verdict", trade_off_verdict}, {"jtdmoe_verdict", jtdmoe_verdict}}},
            {"verdict", verdict},
            {"reason", "separate training: SA " + num(sep_sa.front()) + " -> " + num(sep_sa.back()) + ", RA " +
                           num(sep_ra.front()) + " -> " + num(sep_ra.back()) + " from alpha 0 to 1, largest SA rise " +
                           num(worst_sa_rise) + " and RA fall " + num(worst_ra_fall) + " between neighbours; JTDMoE (trained "
                           "at alpha " + num(d.setup.joint_alpha, 2) + ") has the higher SA + RA at " + std::to_string(above) +
                           " of " + std::to_string(interior) + " interior alphas. Rules: the trade-off part is reproduced if SA(0) > "
                           "SA(1), RA(1) > RA(0) and both curves are monotone within " + num(tol, 2) + " (here: " +
                           trade_off_verdict + "); the JTDMoE part is reproduced if JTDMoE is above at >= 2/3 of the "
                           "interior alphas, not reproduced at <= 1/3 (here: " + jtdmoe_verdict + "); the claim is reproduced "
                           "if both parts are, not reproduced if either is not"},
            {"figure", "alpha.png"}};
}

}  // namespace moelab::cli
