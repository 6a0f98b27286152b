// C8 (P2, Theorem 5.4): P2's certified radius, Equation (8), evaluated numerically in both readings
// (theory/bounds/p2_certificate.hpp: printed margin / D(x), sound margin / (2 D(x))) on model-level MoEs small enough for
// exact minimal distances, soft-routing ones (P2's Assumption 5.3 as stated) and hard top-1 ones (Equation (8)
// applied inside the route-stable ball), each trained plainly and with RT-ER, over every seed of the profile.
// Per sample: both radii, the best verified attack on P2's probability mixture (theory/check/p2_check.hpp), and under
// hard top-1 routing the exact minimal L-inf distance (MILP, theory/exact/exact.hpp). Violations of each reading are
// counted apart; the power check gives the smallest factor c >= 1 for which c times the radius is beaten on some
// sample (how much slack the bound leaves). The verdict is about the printed reading, the one P2 states.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "experiments/claims/common.hpp"
#include "experiments/claims/drivers.hpp"
#include "theory/check/p2_check.hpp"
#include "theory/attacks/robust_training.hpp"

using nlohmann::json;

namespace moelab::cli {

namespace {

const char* const kSpec = "clusters:K=4,d=8,C=3,n=2000,sep=4,noise=1,seed=8";
constexpr double kTrainEps = 0.25;   // RT-ER's L-inf budget: about a third of the plain models' median exact distance

struct C8Model {
    const char* name;
    bool soft;     // soft routing over all experts, else hard top-1 (gate exactly 1)
    bool rt_er;    // RT-ER (P2 §4), else plain training
};
constexpr C8Model kModels[] = {{"c8-soft-plain", true, false}, {"c8-soft-rt-er", true, true},
                               {"c8-top1-plain", false, false}, {"c8-top1-rt-er", false, true}};

ModelConfig c8_model_config(const C8Model& m, std::uint64_t seed) {
    ModelConfig mc;
    mc.kind = ModelKind::moe_model;
    mc.input_dim = 8;
    mc.classes = 3;
    mc.hidden = 8;
    mc.experts = 4;
    mc.top_k = m.soft ? 4 : 1;
    mc.gate = m.soft ? GateMode::soft : GateMode::topk_then_softmax;
    mc.seed = seed;
    return mc;
}

TrainingAttack c8_attack(const ReproProfile& p) {
    TrainingAttack a;
    a.eps = kTrainEps;
    a.steps = p.train_attack_steps;
    a.domain = Box{};
    return a;
}

std::unique_ptr<Classifier> c8_trained(const std::string& root, const C8Model& m, std::uint64_t seed, const ReproProfile& p,
                                       const DataSplits& data) {
    TrainConfig tc;
    tc.epochs = 5;
    tc.seed = seed;
    tc.optimizer.lr = 1e-2;   // at 1e-3 the 5 epochs (120 steps) leave the plain models near 50% accuracy
    if (!m.rt_er) return trained(root, seeded(m.name, seed), c8_model_config(m, seed), tc, kSpec, data);
    RtErOptions o;
    o.attack = c8_attack(p);
    TrainHooks hooks;
    hooks.batch_loss = rt_er_batch_loss(o);
    const json recipe = {{"recipe", "rt-er"}, {"eps", o.attack.eps}, {"steps", o.attack.steps}, {"beta", o.beta}};
    return trained(root, seeded(m.name, seed), c8_model_config(m, seed), tc, kSpec, data, recipe, hooks);
}

// A radius beaten by a measured distance (tolerances of the checker: verified attacks 1e-9, GLPK 1e-6 relative).
bool beaten(double r, const P2CheckRow& row) {
    return r > row.attack * (1.0 + 1e-9) || (!std::isnan(row.exact) && r > row.exact * (1.0 + 1e-6));
}

double median(std::vector<double> v) {
    if (v.empty()) return std::nan("");
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One model at one seed, summarised.
struct ModelResult {
    std::string name;
    std::uint64_t seed = 0;
    std::int64_t samples = 0, certified = 0, printed_violations = 0, sound_violations = 0, cut_by_route = 0, exact_optimal = 0;
    // Hard routing: Equation (8) as printed without the route-stable cap (margin / D), beaten by a measured distance.
    std::int64_t uncapped_violations = 0;
    // Samples where the capped printed radius is the route-stable radius and equals the measured distance (to 1e-6):
    // the nearest adversarial point lies on the routing boundary.
    std::int64_t tight_at_cap = 0;
    double power_printed = std::nan(""), power_sound = std::nan("");   // smallest c >= 1 with c r beaten somewhere
    double median_printed = std::nan(""), median_sound = std::nan(""), median_distance = std::nan("");
    double printed_pct = std::nan(""), sound_pct = std::nan("");       // median radius / distance, in %
    std::string counterexample;   // the first sample that beats the printed reading ("" when none)
};

ModelResult summarise(const std::string& name, std::uint64_t seed, const std::vector<P2CheckRow>& rows) {
    ModelResult r;
    r.name = name;
    r.seed = seed;
    double c_printed = std::numeric_limits<double>::infinity(), c_sound = c_printed;
    std::vector<double> printed, sound, distance, printed_pct, sound_pct;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const P2CheckRow& row = rows[i];
        ++r.samples;
        if (beaten(row.radius.printed, row) && r.counterexample.empty())
            r.counterexample = name + " seed " + std::to_string(seed) + " sample " + std::to_string(i) + ": printed radius " +
                               sig(row.radius.printed) + " > distance " + sig(row.distance()) + " (" +
                               (!std::isnan(row.exact) && row.exact <= row.attack ? "exact" : row.attack_name) + ")";
        r.printed_violations += beaten(row.radius.printed, row);
        const double uncapped = row.radius.margin > 0.0 && row.radius.denominator > 0.0 ? row.radius.margin / row.radius.denominator : 0.0;
        r.uncapped_violations += std::isfinite(row.radius.route_stable) && beaten(uncapped, row);
        r.sound_violations += beaten(row.radius.sound, row);
        r.cut_by_route += row.radius.cut_by_route;
        r.exact_optimal += !std::isnan(row.exact);
        const double d = row.distance();
        if (row.clean_pred != row.label || !(row.radius.sound > 0.0) || !std::isfinite(d)) continue;
        ++r.certified;
        r.tight_at_cap += row.radius.printed == row.radius.route_stable && row.radius.printed >= d * (1.0 - 1e-6);
        c_printed = std::min(c_printed, d / row.radius.printed);
        c_sound = std::min(c_sound, d / row.radius.sound);
        printed.push_back(row.radius.printed);
        sound.push_back(row.radius.sound);
        distance.push_back(d);
        printed_pct.push_back(100.0 * row.radius.printed / d);
        sound_pct.push_back(100.0 * row.radius.sound / d);
    }
    if (r.certified > 0) {
        r.power_printed = std::max(1.0, c_printed);
        r.power_sound = std::max(1.0, c_sound);
    }
    r.median_printed = median(printed);
    r.median_sound = median(sound);
    r.median_distance = median(distance);
    r.printed_pct = median(printed_pct);
    r.sound_pct = median(sound_pct);
    return r;
}

// The per-sample CSV of one model at one seed (every number in full precision: for the figure and for readers).
void sample_lines(std::ostringstream& csv, const std::string& name, std::uint64_t seed, const std::vector<P2CheckRow>& rows) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const P2CheckRow& r = rows[i];
        char line[512];
        std::snprintf(line, sizeof line, "%s,%llu,%zu,%d,%lld,%.17g,%.17g,%s,%.17g,%d,%.17g,%s,%.17g,%s,%.17g\n", name.c_str(),
                      static_cast<unsigned long long>(seed), i, r.label, static_cast<long long>(r.clean_pred), r.radius.printed,
                      r.radius.sound, to_string(r.radius.sound_status), r.radius.route_stable, r.radius.cut_by_route ? 1 : 0,
                      r.attack, r.attack_name.c_str(), r.exact, r.exact_status.c_str(), r.distance());
        csv << line;
    }
}

std::string factor(double c) { return std::isnan(c) ? "-" : sig(c, 3); }

ResultsTable model_table(const std::vector<ModelResult>& results) {
    ResultsTable t{"Per model and seed: medians over correctly classified samples with a positive sound radius; distance = "
                   "exact minimal L-inf distance (top-1, MILP) or best verified attack on P2's mixture (soft). Power "
                   "factor: smallest c >= 1 with c x radius beaten on some sample (1: no slack at all). Top-1: each radius is capped "
                   "by the route-stable radius (cut by route: the cap was below the sound reading); uncut printed viol.: "
                   "samples where margin / D without the cap is beaten.",
                   {"model", "seed", "samples", "certified", "printed r", "sound r", "distance", "printed % of dist.",
                    "sound % of dist.", "printed viol.", "sound viol.", "c printed", "c sound", "cut by route", "uncut printed viol.",
                    "exact optimal"},
                   {}};
    for (const ModelResult& r : results)
        t.rows.push_back({r.name, std::to_string(r.seed), std::to_string(r.samples), std::to_string(r.certified),
                          sig(r.median_printed), sig(r.median_sound), sig(r.median_distance), sig(r.printed_pct, 3),
                          sig(r.sound_pct, 3), std::to_string(r.printed_violations), std::to_string(r.sound_violations),
                          factor(r.power_printed), factor(r.power_sound), std::to_string(r.cut_by_route),
                          r.name.find("top1") != std::string::npos ? std::to_string(r.uncapped_violations) : "-",
                          std::to_string(r.exact_optimal)});
    return t;
}

// The first `n` correctly classified samples of one model: the per-sample view of the report.
ResultsTable sample_table(const std::string& name, std::uint64_t seed, const std::vector<P2CheckRow>& rows, std::size_t n) {
    ResultsTable t{"Per sample, " + name + " (seed " + std::to_string(seed) + "), first " + std::to_string(n) +
                       " correctly classified test samples",
                   {"sample", "printed r", "sound r", "status", "route-stable r", "attack", "exact", "printed / distance"},
                   {}};
    for (std::size_t i = 0; i < rows.size() && t.rows.size() < n; ++i) {
        const P2CheckRow& r = rows[i];
        if (r.clean_pred != r.label) continue;
        t.rows.push_back({std::to_string(i), sig(r.radius.printed), sig(r.radius.sound), to_string(r.radius.sound_status),
                          std::isinf(r.radius.route_stable) ? "inf (soft)" : sig(r.radius.route_stable), sig(r.attack),
                          std::isnan(r.exact) ? "-" : sig(r.exact), sig(r.radius.printed / r.distance(), 3)});
    }
    return t;
}

}  // namespace

namespace {

CheckOptions c8_check_options() {
    CheckOptions o;
    o.norm = Norm::linf;
    o.domain = Box{};
    o.attack_eps_max = 4.0;
    o.exact_options.radius_cap = 4.0;
    o.exact_options.domain = Box{};
    o.seed = 1;
    return o;
}

json result_json(const ModelResult& r) {
    auto num_or_null = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
    return {{"model", r.name}, {"seed", r.seed}, {"samples", r.samples}, {"certified", r.certified},
            {"printed_violations", r.printed_violations}, {"sound_violations", r.sound_violations},
            {"power_printed", num_or_null(r.power_printed)}, {"power_sound", num_or_null(r.power_sound)},
            {"median_printed", num_or_null(r.median_printed)}, {"median_sound", num_or_null(r.median_sound)},
            {"median_distance", num_or_null(r.median_distance)}, {"printed_pct_of_distance", num_or_null(r.printed_pct)},
            {"sound_pct_of_distance", num_or_null(r.sound_pct)}, {"cut_by_route", r.cut_by_route},
            {"exact_optimal", r.exact_optimal}, {"uncapped_printed_violations", r.uncapped_violations}};
}

std::string c8_setup(const ReproProfile& p, std::int64_t samples) {
    return "Synthetic Gaussian clusters (" + std::string(kSpec) + ": 8 inputs, 3 classes, 4 clusters, unbounded domain), "
           "small enough for exact minimal distances. Model-level MoEs as in P2 (the experts are whole classifiers, the "
           "router reads the input): 4 experts with one hidden layer of 8 ReLUs, an affine router, default load balancing "
           "(Switch loss 0.3). Two routings: soft (all experts, softmax weights: P2's Assumption 5.3 as stated) and hard "
           "top-1 with gate 1 (Equation (8) then holds only inside the exact route-stable ball, and each radius is capped "
           "by it). Each trained plainly and with RT-ER (P2 §4: PGD-" + std::to_string(p.train_attack_steps) +
           " at L-inf eps " + sig(kTrainEps) + ", beta 6), 5 epochs, Adam. Per model and seed, " + std::to_string(samples) +
           " test samples: Equation (8) printed (margin / D) and sound (margin / 2D) on P2's probability mixture "
           "(constants: products of inf->inf operator norms, the router's closed-form softmax constant, rounding charged); "
           "the best of DeepFool, FMN and PGD bisection on that mixture (up to 4.0); under top-1 routing the exact "
           "minimal L-inf distance by MILP (20000 nodes per sample). Seeds " + std::to_string(p.seeds.size()) +
           " (model initialisation and data order; the data are fixed). Differs from P2: P2 never evaluates Equation (8) "
           "and states it for image models without saying how the constants are obtained; here the models are small "
           "so that the exact distance exists, and the outputs are class probabilities (M = 1).";
}

// Verdict and closing sentence. One counterexample refutes a bound whatever the interval says, so any printed-reading
// violation makes the claim not reproduced; with none on every seed the interval is [0, 0] and the rule reproduces.
ClaimOutcome finish_c8(ClaimOutcome& out, const std::vector<ModelResult>& results) {
    std::int64_t n = 0, printed = 0, sound = 0, uncapped = 0, hard = 0, tight = 0;
    std::string counterexample;
    std::vector<double> pct_exact, pct_attack, c_printed, c_sound;
    for (const ModelResult& r : results) {
        n += r.samples;
        printed += r.printed_violations;
        sound += r.sound_violations;
        uncapped += r.uncapped_violations;
        tight += r.tight_at_cap;
        hard += r.exact_optimal > 0 ? r.samples : 0;
        if (counterexample.empty()) counterexample = r.counterexample;
        (r.exact_optimal > 0 ? pct_exact : pct_attack).push_back(r.printed_pct);
        if (!std::isnan(r.power_printed)) c_printed.push_back(r.power_printed);
        if (!std::isnan(r.power_sound)) c_sound.push_back(r.power_sound);
    }
    if (printed > 0) out.verdict = Verdict::not_reproduced;
    out.checker_violations = sound;   // the sound reading is a certificate: a violation is a bug in moelab
    const auto range = [](std::vector<double> v) {
        if (v.empty()) return std::string("-");
        std::sort(v.begin(), v.end());
        return sig(v.front(), 3) + "-" + sig(v.back(), 3);
    };
    out.reason = (printed == 0 ? "The printed form is never beaten on " + std::to_string(n) + " samples"
                               : "The printed form is beaten on " + std::to_string(printed) + " of " + std::to_string(n) +
                                     " samples, e.g. " + counterexample) +
                 "; its median radius is " + range(pct_exact) + "% of the exact distance (top-1 models) and " +
                 range(pct_attack) + "% of the attack distance (soft models), per model and seed. The sound reading has " +
                 std::to_string(sound) + " violations. Power check: c = " + range(c_printed) + " (printed), " +
                 range(c_sound) + " (sound): the radius could be multiplied by that much before any measured distance beats it. Under "
                 "top-1 routing, margin / D without the route-stable cap is beaten on " + std::to_string(uncapped) + " of " +
                 std::to_string(hard) + " samples: Equation (8) holds there only inside the route-stable ball; on " + std::to_string(tight) +
                 " samples the capped printed radius equals the exact distance (the nearest adversarial point lies on the "
                 "routing boundary), which is where c = 1 comes from.";
    json models = json::array();
    for (const ModelResult& r : results) models.push_back(result_json(r));
    out.data = {{"models", models}, {"printed_violations", printed}, {"sound_violations", sound}, {"samples", n},
                {"uncapped_printed_violations_top1", uncapped}, {"printed_tight_at_route_cap", tight},
                {"samples_csv", "samples.csv"}};
    return out;
}

}  // namespace

ClaimOutcome run_c8(const std::string& dir, const ReproProfile& p) {
    const std::string root = root_of(dir);
    // Half the checker's sample count: every sample costs three attacks and, under top-1 routing, a MILP.
    const DataSplits data = load_data(kSpec, -1, std::max<std::int64_t>(10, p.check_samples / 2));
    const CheckOptions o = c8_check_options();
    std::vector<ModelResult> results;
    std::vector<double> per_seed;
    std::vector<ResultsTable> samples;
    std::ostringstream csv;
    csv << "model,seed,sample,label,prediction,printed,sound,sound_status,route_stable,cut_by_route,attack,attack_name,exact,"
           "exact_status,distance\n";
    ClaimOutcome out;
    for (const std::uint64_t seed : p.seeds) {
        std::int64_t violations = 0;
        for (const C8Model& m : kModels) {
            const auto model = c8_trained(root, m, seed, p, data);
            std::fprintf(stderr, "repro: C8 checking %s\n", seeded(m.name, seed).c_str());
            const std::vector<P2CheckRow> rows = run_p2_check(*model, data.test, o);
            sample_lines(csv, m.name, seed, rows);
            results.push_back(summarise(m.name, seed, rows));
            violations += results.back().printed_violations;
            out.usage.push_back(usage_of(seeded(m.name, seed), *model, data.test.x));
            if (seed == p.seeds.front()) samples.push_back(sample_table(m.name, seed, rows, 6));
        }
        per_seed.push_back(static_cast<double>(violations));
    }
    write_file_atomic(dir + "/samples.csv", csv.str());
    plot("claim_c8.gp", dir);
    out.paper = "P2 (Theorem 5.4, Equation (8)): a robust MoE keeps its label within r(x) = margin(x) / sum_i (r_i M_i + a_i(x) L_i)";
    out.effect = "printed-reading violations per seed (4 models)";
    out.interval = mean_interval(per_seed);
    out.rule = VerdictRule{Direction::within, 0.5};
    out.seeds = p.seeds;
    out.budget = "5 epochs, 4 MoEs per seed; " + std::to_string(data.test.size()) + " samples, MILP + 3 attacks";
    out.setup = c8_setup(p, data.test.size());
    out.tables.push_back(model_table(results));
    for (auto& t : samples) out.tables.push_back(std::move(t));
    out.figure = "radii.png";
    decide(out, per_seed);
    return finish_c8(out, results);
}

}  // namespace moelab::cli
