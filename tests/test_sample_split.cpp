// The pieces of the MPI sample split, in one process (no MPI): the block assignment, the byte records, and
// the library's contract that a run over consecutive blocks, put together, is the run over all samples bit
// for bit (certify's per-sample methods, the checker's row range, the attack harness's whole batches and its
// summary from records). tests/test_mpi_split.cpp runs the commands under mpirun.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "experiments/cluster/byte_records.hpp"
#include "experiments/cluster/sample_split.hpp"
#include "tests/gradcheck.hpp"
#include "theory/attacks/attack_harness.hpp"
#include "theory/bounds/certify_methods.hpp"
#include "theory/check/checker.hpp"

using namespace moelab;
using moelab::testing::random_tensor;

namespace {

// A top-1 model-level MoE with exactly-1 gates (the exact solvers' model) and data it mostly gets right.
struct Fixture {
    Classifier model;
    Dataset data;
    explicit Fixture(std::int64_t n) : model(config()) {
        data.x = random_tensor(Shape{n, 3}, 77, -1.0, 1.0);
        data.num_classes = 3;
        for (std::int64_t i = 0; i < n; ++i) data.y.push_back(static_cast<int>(i % 3));
    }
    static ModelConfig config() {
        ModelConfig c;
        c.kind = ModelKind::moe_model;
        c.input_dim = 3;
        c.classes = 3;
        c.width = 6;
        c.hidden = 4;
        c.experts = 2;
        c.top_k = 1;
        c.gate = GateMode::topk_then_softmax;
        c.seed = 5;
        return c;
    }
};

std::vector<cli::SampleBlock> blocks_of(std::int64_t units, int ranks) {
    std::vector<cli::SampleBlock> b;
    for (int r = 0; r < ranks; ++r) b.push_back(cli::block_of_rank(units, r, ranks));
    return b;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

nlohmann::json without_seconds(nlohmann::json j) {
    j.erase("seconds");
    return j;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sample_split)

BOOST_AUTO_TEST_CASE(blocks_cover_every_unit_once_in_order_and_differ_by_at_most_one) {
    for (std::int64_t units = 0; units <= 23; ++units)
        for (int ranks = 1; ranks <= 6; ++ranks) {
            const auto b = blocks_of(units, ranks);
            BOOST_TEST(b.front().begin == 0);
            BOOST_TEST(b.back().end == units);
            std::int64_t smallest = units, largest = 0;
            for (int r = 0; r < ranks; ++r) {
                if (r > 0) BOOST_TEST(b[static_cast<std::size_t>(r)].begin == b[static_cast<std::size_t>(r - 1)].end);
                smallest = std::min(smallest, b[static_cast<std::size_t>(r)].size());
                largest = std::max(largest, b[static_cast<std::size_t>(r)].size());
            }
            BOOST_TEST(largest - smallest <= 1, units << " units on " << ranks << " ranks");
        }
}

BOOST_AUTO_TEST_CASE(byte_records_return_every_bit) {
    const double payload_nan = [] {
        std::uint64_t bits = 0x7ff8000000001234ULL;
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return d;
    }();
    const std::vector<double> numbers{-0.0, payload_nan, std::numeric_limits<double>::infinity(), 0.1, 5e-324};
    const std::vector<std::string> words{"", std::string("a\0b", 3), "bounds_only"};
    cli::ByteWriter w;
    w.put(numbers);
    w.put(words);
    w.put(std::int64_t{-7});
    w.put(true);
    w.put(std::vector<std::uint8_t>{0, 1, 255});
    cli::ByteReader r(w.bytes());
    const auto n = r.get_vector<double>();
    BOOST_REQUIRE(n.size() == numbers.size());
    for (std::size_t i = 0; i < n.size(); ++i) BOOST_TEST(same_bits(n[i], numbers[i]), "number " << i);
    BOOST_TEST(r.get_vector<std::string>() == words);
    BOOST_TEST(r.get<std::int64_t>() == -7);
    BOOST_TEST(r.get<bool>());
    BOOST_TEST((r.get_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 255}));
    BOOST_TEST(r.done());
    BOOST_CHECK_THROW(r.get<double>(), std::logic_error);   // past the end: a bug, said so
}

BOOST_AUTO_TEST_CASE(per_sample_certificates_over_blocks_merge_to_the_whole_run) {
    const Fixture f(7);
    CertifySettings s;
    s.domain = Box{-2.0, 2.0};
    s.radius_cap = 1.0;
    s.draws = 200;
    for (const CertifyMethodInfo& m : kCertifyMethods) {
        if (!m.per_sample) continue;
        const Norm norm = m.linf ? Norm::linf : Norm::l2;
        const MethodRadii whole = certify_by_method(m.method, f.model, f.data, norm, s);
        for (int ranks : {2, 3}) {
            std::vector<MethodRadii> parts;
            for (const auto& b : blocks_of(f.data.size(), ranks)) {
                CertifySettings bs = s;
                bs.first_index = b.begin;
                parts.push_back(certify_by_method(m.method, f.model, subset(f.data, b.begin, b.size()), norm, bs));
            }
            const MethodRadii merged = merge_method_radii(m.method, parts, s);
            BOOST_TEST_CONTEXT(m.name << " on " << ranks << " blocks") {
                BOOST_REQUIRE(merged.radius.size() == whole.radius.size());
                for (std::size_t i = 0; i < whole.radius.size(); ++i) BOOST_TEST(same_bits(merged.radius[i], whole.radius[i]), i);
                BOOST_TEST(merged.status == whole.status, boost::test_tools::per_element());
                BOOST_TEST(merged.note == whole.note);
            }
        }
        // The merge is not a no-op: smoothing's noise numbered from 0 in every block gives other radii.
        if (m.method == CertifyMethod::smoothing) {
            const MethodRadii tail = certify_by_method(m.method, f.model, subset(f.data, 3, 4), norm, s);
            bool differs = false;
            for (std::size_t i = 0; i < 4; ++i) differs = differs || !same_bits(tail.radius[i], whole.radius[3 + i]);
            BOOST_TEST(differs);
        }
    }
}

BOOST_AUTO_TEST_CASE(checker_row_ranges_put_together_are_the_whole_check) {
    const Fixture f(5);
    CheckOptions o;
    o.domain = Box{-2.0, 2.0};
    o.exact_options.radius_cap = 0.5;
    o.exact_options.domain = o.domain;
    o.exact_lipschitz = true;
    o.attack_eps_max = 1.0;
    o.attack_steps = 10;
    const CheckReport whole = run_check(f.model, f.data, o);
    CheckReport merged;
    for (const auto& b : blocks_of(f.data.size(), 2)) {
        CheckOptions bo = o;
        bo.rows_begin = b.begin;
        bo.rows_end = b.end;
        const CheckReport part = run_check(f.model, f.data, bo);
        BOOST_TEST(static_cast<std::int64_t>(part.rows.size()) == b.size());
        merged.rows.insert(merged.rows.end(), part.rows.begin(), part.rows.end());
        merged.route_source = part.route_source;   // the model's, as experiments/cluster/split_check.cpp takes them
        merged.p2_compared = part.p2_compared;
    }
    count_violations(merged);
    BOOST_TEST(to_csv(merged) == to_csv(whole));
    BOOST_TEST(without_seconds(summary_json(merged, o)) == without_seconds(summary_json(whole, o)));
    std::int64_t optimal = 0;
    for (const CheckRow& r : whole.rows) optimal += r.exact_status == "optimal";
    BOOST_TEST(optimal > 0);   // the exact solver's per-sample results are really part of what is compared
}

BOOST_AUTO_TEST_CASE(attack_over_blocks_of_whole_batches_with_summary_from_records_is_the_whole_attack) {
    const Fixture f(7);
    for (const Attack attack : {Attack::pgd, Attack::deepfool}) {
        AttackSpec spec;
        spec.attack = attack;
        spec.options.eps = 0.5;
        spec.options.steps = 10;
        spec.batch_size = 2;
        spec.domain = Box{-2.0, 2.0};
        const RobustnessReport whole = run_attack(f.model, f.data, spec);
        RobustnessReport merged;
        std::vector<double> points;
        for (const auto& batches : blocks_of(4, 2)) {   // 7 samples in 4 batches of 2: batches {0,1} and {2,3}
            const std::int64_t begin = batches.begin * 2, end = std::min<std::int64_t>(batches.end * 2, 7);
            const RobustnessReport part = run_attack(f.model, subset(f.data, begin, end - begin), spec);
            for (SampleRecord s : part.samples) {
                s.index += begin;
                merged.samples.push_back(s);
            }
            points.insert(points.end(), part.x_adv.data(), part.x_adv.data() + part.x_adv.numel());
        }
        merged.x_adv = Tensor(Shape{7, 3}, points);
        summarize(merged, spec);
        BOOST_TEST_CONTEXT(to_string(attack)) {
            BOOST_TEST(to_csv(merged) == to_csv(whole));
            BOOST_TEST(without_seconds(summary_json(merged, spec, 2)) == without_seconds(summary_json(whole, spec, 2)));
            BOOST_TEST(std::memcmp(merged.x_adv.data(), whole.x_adv.data(), 21 * sizeof(double)) == 0);
            BOOST_TEST(whole.curve.size() >= 4u);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
