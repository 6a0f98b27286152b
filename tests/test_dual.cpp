// P2's dual model: its certificates against a closed-form minimal distance and against attacks on random
// small models, the softmax Lipschitz fact they rest on, P2's bound against its formula, and the CLI flags.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/atomic_file.hpp"
#include "engine/config_error.hpp"
#include "engine/ops.hpp"
#include "experiments/io/config_keys.hpp"
#include "tests/cli_run.hpp"
#include "tests/gradcheck.hpp"
#include "theory/bounds/dual.hpp"
#include "theory/bounds/lipschitz.hpp"

using moelab::cli::run_program;

using namespace moelab;
using moelab::testing::random_tensor;

namespace {

ModelConfig small(ModelKind kind, std::int64_t d, std::int64_t C, std::int64_t E, std::int64_t hidden, GateMode gate,
                  std::uint64_t seed) {
    ModelConfig c;
    c.kind = kind;
    c.input_dim = d;
    c.classes = C;
    c.width = 6;
    c.hidden = hidden;
    c.experts = E;
    c.top_k = 1;
    c.gate = gate;
    c.seed = seed;
    return c;
}

void scale_params(Classifier& model, double factor) {
    for (const auto& p : model.params().all()) {
        Var v = p.var;
        for (std::int64_t i = 0; i < v.value().numel(); ++i) v.value()[i] *= factor;
    }
}

std::vector<int> dual_predictions(const Classifier& s, const Classifier& r, double alpha, const Tensor& x) {
    NoGradGuard no_grad;
    const auto p = argmax_rows(dual_forward(s, r, alpha, Var(x)).value());
    return {p.begin(), p.end()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dual)

BOOST_AUTO_TEST_CASE(softmax_class_difference_is_one_lipschitz_in_linf_and_the_constant_is_reached) {
    // |d(p_y - p_j)| <= ||dz||_inf, the fact dual-lipschitz and dual-robust-margin rest on.
    const Tensor a = random_tensor(Shape{2000, 4}, 31, -3.0, 3.0), b = random_tensor(Shape{2000, 4}, 32, -3.0, 3.0);
    NoGradGuard no_grad;
    const Tensor pa = softmax(Var(a)).value(), pb = softmax(Var(b)).value();
    for (std::int64_t i = 0; i < 2000; ++i) {
        double dz = 0.0;
        for (std::int64_t k = 0; k < 4; ++k) dz = std::max(dz, std::abs(a.at(i, k) - b.at(i, k)));
        for (std::int64_t y = 0; y < 4; ++y)
            for (std::int64_t j = 0; j < 4; ++j)
                BOOST_TEST(std::abs((pa.at(i, y) - pa.at(i, j)) - (pb.at(i, y) - pb.at(i, j))) <= dz * (1 + 1e-12));
    }
    // Two classes at z = (0, 0) moved to (h, -h): p_0 - p_1 = tanh(h), ratio -> 1 as h -> 0.
    const double h = 1e-5;
    const Tensor z(Shape{1, 2}, std::vector<double>{h, -h});
    const Tensor p = softmax(Var(z)).value();
    BOOST_TEST((p[0] - p[1]) / h == 1.0, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(dual_probabilities_match_dual_forward_and_bad_alpha_names_the_key) {
    const Classifier s(small(ModelKind::moe_model, 4, 3, 3, 5, GateMode::softmax_then_topk, 1));
    const Classifier r(small(ModelKind::mlp, 4, 3, 1, 5, GateMode::softmax_then_topk, 2));
    const Tensor x = random_tensor(Shape{9, 4}, 3);
    for (double alpha : {0.0, 0.25, 1.0}) {
        NoGradGuard no_grad;
        const Tensor a = dual_forward(s, r, alpha, Var(x)).value();
        const Tensor b = dual_probabilities(network_of(s), network_of(r), alpha, x);
        for (std::int64_t i = 0; i < a.numel(); ++i) BOOST_TEST(std::abs(a[i] - b[i]) < 1e-14);
    }
    for (double alpha : {-0.1, 1.5, std::nan("")}) {
        try {
            check_alpha(alpha);
            BOOST_ERROR("alpha " << alpha << " accepted");
        } catch (const ConfigError& e) {
            BOOST_TEST(e.key == "alpha");
            BOOST_TEST(cli::user_message(e).rfind("--alpha:", 0) == 0u);
        }
    }
}

// Two classes, one input, linear models: F_D,0 - F_D,1 = (1 - alpha) tanh(a_S(x) / 2) + alpha tanh(a_R(x) / 2)
// with a(x) = w x + c, so the minimal distance is the distance to the nearest root, found by bisection.
// Every certificate must stay below it, and the attacks must reach it.
BOOST_AUTO_TEST_CASE(dual_certificates_stay_below_the_closed_form_distance_that_attacks_reach) {
    ModelConfig c = small(ModelKind::mlp, 1, 2, 1, 4, GateMode::softmax_then_topk, 5);
    c.kind = ModelKind::moe_model;   // one linear expert: F = W x + b (the one gate is 1)
    c.experts = 1;
    c.hidden = 0;
    Classifier s(c);
    c.seed = 6;
    Classifier r(c);
    auto set = [](Classifier& m, double w0, double w1, double b0, double b1) {
        Var w = m.params().get("moe.experts.0.fc1.weight"), b = m.params().get("moe.experts.0.fc1.bias");
        w.value()[0] = w0, w.value()[1] = w1, b.value()[0] = b0, b.value()[1] = b1;
    };
    set(s, 4.0, -4.0, 0.5, 0.0);    // a_S(x) = 8 x + 0.5: flips at x = -1/16
    set(r, 1.0, -1.0, 1.0, -1.0);   // a_R(x) = 2 x + 2: flips at x = -1
    const Network ns = network_of(s), nr = network_of(r);
    Dataset data;
    data.x = Tensor(Shape{4, 1}, std::vector<double>{0.3, 0.0, 0.7, 1.5});
    data.num_classes = 2;
    for (double alpha : {0.0, 0.4, 0.8, 1.0}) {
        data.y = dual_predictions(s, r, alpha, data.x);
        auto g = [&](double x) { return (1 - alpha) * std::tanh((8 * x + 0.5) / 2) + alpha * std::tanh((2 * x + 2) / 2); };
        CheckOptions o;
        o.norm = Norm::linf;
        o.attack_eps_max = 4.0;
        o.attack_steps = 60;
        const DualCheckReport rep = run_dual_check(s, r, alpha, data, o);
        BOOST_TEST(rep.violations == 0);
        for (const DualCheckRow& row : rep.rows) {
            const double x0 = data.x[row.index];
            // g is increasing; the nearest root lies below x0 where g(x0) > 0 (label 0).
            BOOST_REQUIRE(g(x0) > 0.0);
            double lo = x0 - 10, hi = x0;
            for (int i = 0; i < 200; ++i) (g(0.5 * (lo + hi)) > 0 ? hi : lo) = 0.5 * (lo + hi);
            const double dstar = x0 - hi;
            BOOST_TEST(row.attack == dstar, boost::test_tools::tolerance(1e-6));
            for (double cert : row.certified)
                if (!std::isnan(cert)) BOOST_TEST(cert <= dstar * (1 + 1e-9), "alpha " << alpha);
            BOOST_TEST(row.best > 0.0);
        }
        // At alpha = 1 the dual is the robust model alone: (a) and (b) coincide.
        if (alpha == 1.0)
            for (const DualCheckRow& row : rep.rows) BOOST_TEST(row.certified[0] == row.certified[1], boost::test_tools::tolerance(1e-12));
    }
}

// Random small pairs, MLPs (all three certificates apply) and top-1 model-level MoEs (only dual-ibp covers
// hard routing): no sound certificate exceeds an attack's distance, at several alpha.
BOOST_AUTO_TEST_CASE(dual_certificates_never_exceed_attack_distances_on_random_small_models) {
    std::int64_t samples = 0, certified = 0, lipschitz_covered = 0;
    for (std::uint64_t seed = 0; seed < 16; ++seed) {
        const bool moe = seed % 2 == 1;
        const ModelKind kind = moe ? ModelKind::moe_model : ModelKind::mlp;
        Classifier s(small(kind, 3, 3, 3, 4, GateMode::softmax_then_topk, 100 + seed));
        Classifier r(small(kind, 3, 3, 3, 4, GateMode::topk_then_softmax, 200 + seed));
        scale_params(s, 2.0);
        const double alpha = 0.25 * static_cast<double>(seed % 5);
        Dataset data;
        data.x = random_tensor(Shape{3, 3}, 300 + seed);
        data.y = dual_predictions(s, r, alpha, data.x);
        data.num_classes = 3;
        CheckOptions o;
        o.norm = seed % 3 == 0 ? Norm::l2 : Norm::linf;
        o.attack_eps_max = 3.0;
        o.attack_steps = 30;
        const DualCheckReport rep = run_dual_check(s, r, alpha, data, o);
        for (const DualCheckRow& row : rep.rows) {
            ++samples;
            certified += row.best > 0.0;
            lipschitz_covered += !std::isnan(row.certified[0]);
            BOOST_TEST(row.violations.empty(), "seed " << seed << ": " << (row.violations.empty() ? "" : row.violations.front()));
            BOOST_TEST((!moe || std::isnan(row.certified[0])));   // no sound global constant under hard routing
        }
    }
    BOOST_TEST(certified >= samples / 2, certified << " of " << samples);
    BOOST_TEST(lipschitz_covered == samples / 2);
}

// Mixed logits (P2's code): on MLP pairs the Lipschitz margin r = M_D / (2 L_D) against a closed form, and on random
// small pairs, MLPs and top-1 model-level MoEs, no sound certificate above an attack's distance.
BOOST_AUTO_TEST_CASE(mixed_logit_certificates_match_their_formula_and_never_exceed_attack_distances) {
    std::int64_t samples = 0, certified = 0;
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        const bool moe = seed % 2 == 1;
        const ModelKind kind = moe ? ModelKind::moe_model : ModelKind::mlp;
        Classifier s(small(kind, 3, 3, 3, 4, GateMode::softmax_then_topk, 400 + seed));
        Classifier r(small(kind, 3, 3, 3, 4, GateMode::topk_then_softmax, 500 + seed));
        const double alpha = 0.25 * static_cast<double>(seed % 5);
        Dataset data;
        data.x = random_tensor(Shape{3, 3}, 600 + seed);
        const Tensor z = dual_outputs(network_of(s), network_of(r), alpha, data.x, DualMix::logits);
        for (std::int64_t p : argmax_rows(z)) data.y.push_back(static_cast<int>(p));
        data.num_classes = 3;
        CheckOptions o;
        o.norm = Norm::linf;
        o.attack_eps_max = 3.0;
        o.attack_steps = 30;
        const DualCheckReport rep = run_dual_check(s, r, alpha, data, o, DualMix::logits);
        BOOST_TEST(to_string(rep.mix) == std::string("logits"));
        for (const DualCheckRow& row : rep.rows) {
            ++samples;
            certified += row.best > 0.0;
            BOOST_TEST(row.violations.empty(), "seed " << seed << ": " << (row.violations.empty() ? "" : row.violations.front()));
            BOOST_TEST(std::isnan(row.certified[1]));   // no robust-margin certificate with unbounded logits
        }
        if (moe) continue;
        // dual-lipschitz by hand: the layer-product constants of both MLPs, mixed, doubled.
        const DualRadii c = certify_dual(network_of(s), network_of(r), alpha, data.x, data.y, Norm::linf, Box{}, DualMix::logits);
        const double L = 2.0 * ((1 - alpha) * lipschitz_upper(network_of(s), Norm::linf).logits + alpha * lipschitz_upper(network_of(r), Norm::linf).logits);
        for (std::int64_t b = 0; b < z.rows(); ++b) {
            const int yb = data.y[static_cast<std::size_t>(b)];
            double m = std::numeric_limits<double>::infinity();
            for (std::int64_t j = 0; j < 3; ++j)
                if (j != yb) m = std::min(m, z.at(b, yb) - z.at(b, j));
            BOOST_TEST(c.radius[0][static_cast<std::size_t>(b)] == m / L, boost::test_tools::tolerance(1e-12));
        }
    }
    BOOST_TEST(certified >= samples / 2, certified << " of " << samples);
}

BOOST_AUTO_TEST_CASE(cli_certifies_and_checks_the_dual_model_and_names_bad_flags) {
    const char* bin = std::getenv("MOELAB_BIN");
    if (!bin) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set (run through tests/run_tests.sh): CLI test skipped");
        return;
    }
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("moelab_dual_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto run = [&](const std::string& args) {
        std::vector<std::string> argv{bin};
        for (auto& w : cli_run::words(args)) argv.push_back(std::move(w));
        const int rc = run_program(argv, {.stdout_path = dir / "out.txt", .stderr_path = dir / "err.txt"});
        return std::make_pair(rc, moelab::read_file((dir / "err.txt").string()));
    };
    const std::string S = (dir / "s").string(), R = (dir / "r").string();
    BOOST_REQUIRE(run("train --data clusters:K=3,d=4,n=150 --model moe-model --experts 3 --top-k 1 --hidden 0 --epochs 1 --seed 1 --out " + S).first == 0);
    BOOST_REQUIRE(run("train --data clusters:K=3,d=4,n=150 --model mlp --width 6 --epochs 1 --seed 2 --out " + R).first == 0);
    const std::string pair = " --ckpt " + S + "/model.ckpt --robust-ckpt " + R + "/model.ckpt";
    auto [code, err] = run("certify" + pair + " --alpha 0.5 --method dual --samples 8 --out " + (dir / "d.csv").string());
    BOOST_REQUIRE_MESSAGE(code == 0, err);
    const std::string csv = moelab::read_file((dir / "d.csv").string());
    BOOST_TEST(csv.rfind("index,label,certified_dual-lipschitz,certified_dual-robust-margin,certified_dual-ibp,certified_best,route_stable_radius,route_class\n", 0) == 0u);
    BOOST_TEST(std::count(csv.begin(), csv.end(), '\n') == 9);
    std::tie(code, err) = run("check" + pair + " --alpha 0.5 --samples 6 --out " + (dir / "chk").string());
    BOOST_REQUIRE_MESSAGE(code == 0, err);
    const auto summary = nlohmann::json::parse(moelab::read_file((dir / "chk" / "dual_summary.json").string()));
    BOOST_TEST(summary.at("violations").get<int>() == 0);
    BOOST_TEST(summary.at("alpha").get<double>() == 0.5);
    BOOST_TEST(summary.at("mix").get<std::string>() == "logits");   // P2's code mixes logits: the default
    // The same bytes under 1 and 2 threads.
    BOOST_REQUIRE(run("check" + pair + " --alpha 0.5 --samples 6 --threads 1 --out " + (dir / "t1").string()).first == 0);
    BOOST_REQUIRE(run("check" + pair + " --alpha 0.5 --samples 6 --threads 2 --out " + (dir / "t2").string()).first == 0);
    BOOST_TEST(moelab::read_file((dir / "t1" / "dual_check.csv").string()) == moelab::read_file((dir / "t2" / "dual_check.csv").string()));
    BOOST_TEST(moelab::read_file((dir / "t1" / "dual_check.csv").string()) == moelab::read_file((dir / "chk" / "dual_check.csv").string()));
    const std::vector<std::pair<std::string, std::string>> bad{
        {"certify" + pair + " --alpha 1.5 --method dual --out " + (dir / "x.csv").string(), "--alpha"},
        {"certify" + pair + " --alpha nan --method dual --out " + (dir / "x.csv").string(), "--alpha"},
        {"certify" + pair + " --method dual --out " + (dir / "x.csv").string(), "--alpha"},
        {"certify --ckpt " + S + "/model.ckpt --alpha 0.5 --method dual --out " + (dir / "x.csv").string(), "--alpha"},
        {"certify --ckpt " + S + "/model.ckpt --method dual --out " + (dir / "x.csv").string(), "--robust-ckpt"},
        {"certify --ckpt " + S + "/model.ckpt --robust-ckpt " + (dir / "missing.ckpt").string() + " --alpha 0.5 --method dual --out " +
             (dir / "x.csv").string(), "missing.ckpt"},
        {"check" + pair + " --alpha -1 --out " + (dir / "chk2").string(), "--alpha"},
    };
    for (const auto& [args, what] : bad) {
        const auto [rc, text] = run(args);
        BOOST_TEST(rc != 0, args);
        std::istringstream in(text);
        std::string line, last;
        int lines = 0;
        while (std::getline(in, line))
            if (!line.empty()) last = line, ++lines;
        BOOST_TEST(lines == 1, args << ": " << text);
        BOOST_TEST(last.find(what) != std::string::npos, args << ": " << last);
    }
    BOOST_TEST(!fs::exists(dir / "x.csv"));
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
