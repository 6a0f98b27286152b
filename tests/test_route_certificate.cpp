// The route-stability column (theory/bounds/route_certificate.hpp): the IBP lower bound against the exact radius of affine
// routers and against a brute-force search on a layer-level MoE; the exact radius on an unbounded box against its
// closed form; the three classes; and the CLI columns of certify --method p2 and check.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "tests/gradcheck.hpp"
#include "experiments/io/program_run.hpp"
#include "tests/temp_dir.hpp"
#include "theory/network/network.hpp"
#include "theory/bounds/route_certificate.hpp"
#include "theory/bounds/route_stability.hpp"

using moelab::cli::run_program;

using namespace moelab;
using moelab::testing::random_tensor;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void scale_params(Classifier& model, double by) {
    for (const auto& p : model.params().all()) {
        Var v = p.var;
        for (std::int64_t i = 0; i < v.value().numel(); ++i) v.value()[i] *= by;
    }
}

ModelConfig moe_config(ModelKind kind, std::int64_t d, std::int64_t k, GateMode gate, std::uint64_t seed) {
    ModelConfig c;
    c.kind = kind;
    c.input_dim = d;
    c.classes = 3;
    c.width = 4;
    c.hidden = 4;
    c.experts = 4;
    c.top_k = k;
    c.gate = gate;
    c.seed = seed;
    return c;
}

// The input of the first MoE stage (what its router reads) at the rows of x, by the network's own maps.
Tensor first_router_input(const Network& net, Tensor h) {
    for (const Stage& s : net.stages) {
        if (s.kind == Stage::Kind::moe) return h;
        if (s.kind == Stage::Kind::affine) h = apply_affine(s.map, h);
        if (s.kind == Stage::Kind::chain) h = apply_chain(s.chain, h);
        if (s.kind == Stage::Kind::relu)
            for (std::int64_t i = 0; i < h.numel(); ++i) h[i] = std::max(0.0, h[i]);
    }
    return h;
}

const MoEStage& first_moe(const Network& net) {
    for (const Stage& s : net.stages)
        if (s.kind == Stage::Kind::moe) return s.moe;
    throw std::logic_error("no MoE stage");
}

std::vector<std::int64_t> sorted_selection(const MoEStage& m, const double* h) {
    std::vector<std::int64_t> s = selected_experts(m.router, m.k, h);
    std::sort(s.begin(), s.end());
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(route_certificate)

BOOST_AUTO_TEST_CASE(ibp_bound_never_exceeds_the_exact_radius_of_affine_routers_and_meets_it_on_an_open_box) {
    std::int64_t finite = 0;
    for (std::uint64_t seed = 0; seed < 16; ++seed) {
        const std::int64_t k = seed % 2 ? 2 : 1;
        Classifier model(moe_config(ModelKind::moe_model, 3, k, GateMode::topk_then_softmax, 40 + seed));
        scale_params(model, 2.0);
        const Network net = network_of(model);
        const MoEStage& m = net.stages.front().moe;
        const Tensor x = random_tensor(Shape{6, 3}, 70 + seed, 0.05, 0.95);
        for (const Box box : {kImageBox, Box{}}) {
            const std::vector<double> ibp = route_stable_radii_ibp(net, x, box);
            for (std::int64_t b = 0; b < x.rows(); ++b) {
                const double exact = route_stable_radius_linf(m.router, k, x.data() + b * 3, box).radius;
                const double lower = ibp[static_cast<std::size_t>(b)];
                BOOST_TEST(lower <= exact, "seed " << seed << " row " << b << ": IBP " << lower << " > exact " << exact);
                // On an unbounded box the interval of each score difference is exact: only bisection and rounding
                // separate the two.
                if (!std::isinf(box.hi) || std::isinf(exact)) continue;
                ++finite;
                BOOST_TEST(lower >= exact * (1.0 - 1e-6), "seed " << seed << " row " << b << ": IBP " << lower << " exact " << exact);
            }
        }
        // route_stable_radii takes the exact path for model-level MoEs.
        const RouteRadii r = route_stable_radii(net, x, kImageBox);
        BOOST_TEST(std::string(to_string(r.source)) == "exact");
    }
    BOOST_TEST(finite >= 40);
}

BOOST_AUTO_TEST_CASE(ibp_bound_never_exceeds_a_brute_force_distance_on_a_layer_level_moe) {
    // Inputs in [0, 1]^2: a 401 x 401 grid point whose routing differs from x's bounds the distance to a routing
    // change from above; the IBP radius must stay below it.
    const std::int64_t n = 401;
    Tensor grid(Shape{n * n, 2});
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
            grid.at(i * n + j, 0) = static_cast<double>(i) / static_cast<double>(n - 1);
            grid.at(i * n + j, 1) = static_cast<double>(j) / static_cast<double>(n - 1);
        }
    std::int64_t positive = 0, samples = 0;
    double closest = 0.0;
    for (std::uint64_t seed = 0; seed < 6; ++seed) {
        Classifier model(moe_config(ModelKind::moe, 2, seed % 2 ? 2 : 1, GateMode::topk_then_softmax, 90 + seed));
        scale_params(model, 1.5);
        const Network net = network_of(model);
        const MoEStage& m = first_moe(net);
        const Tensor hg = first_router_input(net, grid);
        const Tensor x = random_tensor(Shape{5, 2}, 120 + seed, 0.1, 0.9);
        const Tensor hx = first_router_input(net, x);
        const RouteRadii r = route_stable_radii(net, x, kImageBox);
        BOOST_TEST(std::string(to_string(r.source)) == "IBP lower bound");
        for (std::int64_t b = 0; b < x.rows(); ++b) {
            const auto chosen = sorted_selection(m, hx.data() + b * hx.cols());
            double found = kInf;
            for (std::int64_t g = 0; g < grid.rows(); ++g)
                if (sorted_selection(m, hg.data() + g * hg.cols()) != chosen)
                    found = std::min(found, std::max(std::abs(grid.at(g, 0) - x.at(b, 0)), std::abs(grid.at(g, 1) - x.at(b, 1))));
            const double lower = r.radius[static_cast<std::size_t>(b)];
            ++samples;
            positive += lower > 0.0;
            if (std::isfinite(found) && lower > 0.0) closest = std::max(closest, lower / found);
            BOOST_TEST(lower <= found, "seed " << seed << " row " << b << ": IBP " << lower << " > brute force " << found);
        }
    }
    BOOST_TEST_MESSAGE("layer-level route stability: " << positive << " of " << samples << " positive; largest IBP / brute force " << closest);
    BOOST_TEST(positive >= samples / 2, "the bound is 0 too often for the test to mean anything");
}

BOOST_AUTO_TEST_CASE(exact_radius_on_an_unbounded_box_is_the_closed_form) {
    for (std::uint64_t seed = 0; seed < 30; ++seed) {
        const std::int64_t d = 4, E = 5, k = 1 + static_cast<std::int64_t>(seed % 3);
        const AffineMap r{random_tensor(Shape{E, d}, 3 * seed + 1), random_tensor(Shape{E}, 3 * seed + 2, -0.5, 0.5)};
        const Tensor x = random_tensor(Shape{d}, 3 * seed + 3, -2.0, 2.0);
        const double exact = route_stable_radius_linf(r, k, x.data(), Box{}).radius;
        BOOST_TEST(exact == route_stable_radius_linf_unclipped(r, k, x.data()), boost::test_tools::tolerance(1e-12));
        BOOST_TEST(std::isfinite(exact));   // an unbounded box lets every rival through
    }
}

BOOST_AUTO_TEST_CASE(classes_of_a_certified_ball) {
    BOOST_TEST(std::string(to_string(route_class(0.1, 0.2, RouteSource::exact_affine))) == to_string(RouteClass::stable));
    BOOST_TEST(std::string(to_string(route_class(0.2, 0.2, RouteSource::exact_affine))) == to_string(RouteClass::stable));   // open ball of the route radius
    BOOST_TEST(std::string(to_string(route_class(0.3, 0.2, RouteSource::ibp_lower_bound))) == to_string(RouteClass::crossing));
    BOOST_TEST(std::string(to_string(route_class(0.0, 0.2, RouteSource::exact_affine))) == to_string(RouteClass::not_certified));
    BOOST_TEST(std::string(to_string(route_class(std::nan(""), 0.2, RouteSource::exact_affine))) == to_string(RouteClass::not_certified));
    BOOST_TEST(std::string(to_string(route_class(0.5, std::nan(""), RouteSource::no_router))) == to_string(RouteClass::no_router));
    BOOST_TEST(std::string(to_string(route_class(0.5, kInf, RouteSource::soft_routing))) == to_string(RouteClass::stable));
    RouteRadii r{RouteSource::exact_affine, {0.2, 0.2, 0.2}};
    const RouteCounts c = count_route_classes({0.1, 0.3, 0.0}, r);
    BOOST_TEST(c.stable == 1);
    BOOST_TEST(c.crossing == 1);
    BOOST_TEST(c.not_certified == 1);
    // A dense network has no router; a soft one has no boundary.
    const Network dense = network_of(Classifier(moe_config(ModelKind::mlp, 2, 1, GateMode::soft, 3)));
    const Tensor x = random_tensor(Shape{2, 2}, 5, 0.0, 1.0);
    BOOST_TEST(std::string(to_string(route_stable_radii(dense, x, kImageBox).source)) == "no router");
    const Network soft = network_of(Classifier(moe_config(ModelKind::moe_model, 2, 4, GateMode::soft, 4)));
    BOOST_TEST(route_stable_radii(soft, x, kImageBox).radius.front() == kInf);
}

BOOST_AUTO_TEST_CASE(cli_certify_p2_writes_both_readings_statuses_and_the_route_column) {
    const char* bin = std::getenv("MOELAB_BIN");
    if (!bin) {
        BOOST_TEST_MESSAGE("MOELAB_BIN not set (run through tests/run_tests.sh): CLI test skipped");
        return;
    }
    const moelab::testing::TempDir dir("route_cli");
    auto run = [&](std::vector<std::string> args) {
        args.insert(args.begin(), bin);
        return run_program(args, {.stdout_path = dir / "out.txt", .stderr_path = dir / "err.txt"});
    };
    BOOST_REQUIRE(run({"train", "--data", "clusters:K=3,d=4,n=300", "--model", "moe-model", "--experts", "3", "--top-k", "1",
                       "--hidden", "4", "--epochs", "3", "--seed", "1", "--out", dir / "top1"}) == 0);
    BOOST_REQUIRE_MESSAGE(run({"certify", "--ckpt", dir / "top1/model.ckpt", "--method", "p2", "--samples", "12", "--out", dir / "p2.csv"}) == 0,
                          moelab::read_file(dir / "err.txt"));
    const std::string csv = moelab::read_file(dir / "p2.csv");
    BOOST_TEST(csv.rfind("index,label,margin,denominator,printed_radius,printed_status,sound_radius,sound_status,cut_by_route,"
                         "route_stable_radius,route_class,note\n", 0) == 0u);
    BOOST_TEST(std::count(csv.begin(), csv.end(), '\n') == 13);
    BOOST_TEST(csv.find(",formal,") != std::string::npos);
    BOOST_TEST((csv.find(",route-stable,") != std::string::npos || csv.find(",crossing,") != std::string::npos));
    const std::string out = moelab::read_file(dir / "out.txt");
    BOOST_TEST(out.find("certified & route-stable") != std::string::npos, out);
    BOOST_TEST(out.find("route-stable radius: exact") != std::string::npos, out);
    // Raw logits need a stated bound, and then every reading is diagnostic.
    BOOST_TEST(run({"certify", "--ckpt", dir / "top1/model.ckpt", "--method", "p2", "--p2-output", "logits", "--out", dir / "l.csv"}) != 0);
    BOOST_TEST(moelab::read_file(dir / "err.txt").find("--p2-logit-bound") != std::string::npos);
    BOOST_REQUIRE(run({"certify", "--ckpt", dir / "top1/model.ckpt", "--method", "p2", "--p2-output", "logits", "--p2-logit-bound", "5",
                       "--samples", "4", "--out", dir / "l.csv"}) == 0);
    BOOST_TEST(moelab::read_file(dir / "l.csv").find(",diagnostic,") != std::string::npos);
    // Every other method gets the route column too; the checker's CSV has one per certificate.
    BOOST_REQUIRE(run({"certify", "--ckpt", dir / "top1/model.ckpt", "--method", "ibp", "--samples", "5", "--out", dir / "ibp.csv"}) == 0);
    BOOST_TEST(moelab::read_file(dir / "ibp.csv").rfind("index,label,certified_radius,status,route_stable_radius,route_class\n", 0) == 0u);
    BOOST_REQUIRE(run({"check", "--ckpt", dir / "top1/model.ckpt", "--samples", "4", "--out", dir / "chk"}) == 0);
    const std::string check = moelab::read_file(dir / "chk/check.csv");
    BOOST_TEST(check.find(",p2_printed,p2_sound,p2_status,") != std::string::npos);
    BOOST_TEST(check.find(",route_stable_radius,route_lipschitz,route_ibp,") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
