// Micro-shards (moe/train.hpp): one shard is the plain full-batch step bit for bit; S shards give the same
// bits at any thread count and however they are spread over processes (two threads play two processes
// here through a loopback exchange; tests/test_data_parallel.cpp does it with MPI).
#include <boost/test/unit_test.hpp>

#include <barrier>
#include <numeric>
#include <thread>

#include "engine/clusters.hpp"
#include "engine/config_error.hpp"
#include "engine/parallel.hpp"
#include "experiments/io/config_keys.hpp"
#include "moe/train.hpp"
#include "tests/gradcheck.hpp"

using namespace moelab;
using moelab::testing::bitwise_identical;

namespace {

struct Setup {
    Dataset train_set, test_set;
    ModelConfig model;
    TrainConfig config;
    Setup() {
        ClusterSpec spec;
        spec.clusters = 4;
        spec.dim = 8;
        spec.classes = 3;
        spec.samples = 1024 + 128;
        const Dataset all = make_clusters(spec);
        train_set = subset(all, 0, 1024);
        test_set = subset(all, 1024, 128);
        model.kind = ModelKind::moe;
        model.input_dim = 8;
        model.classes = 3;
        model.width = 96;   // gemm row blocks and elementwise loops go parallel at S = 1
        model.hidden = 128;
        model.experts = 4;
        model.top_k = 2;
        model.dropout = 0.1;
        model.noisy = true;
        config.epochs = 1;            // 4 steps, each over 4 shards of 64 rows when S = 4
        config.batch_size = 256;
        config.optimizer.lr = 3e-3;
        config.schedule = LrSchedule::cosine;
        config.z_weight = 1e-3;
    }
};

std::vector<Tensor> weights_and_state(const Classifier& model, const Optimizer& opt) {
    std::vector<Tensor> w;
    for (const auto& p : model.params().all()) w.push_back(p.var.value());
    for (const auto& [name, t] : opt.state()) w.push_back(t);
    return w;
}

std::vector<Tensor> trained(const Setup& s, int micro_shards, int threads, const ShardExchange& exchange = {}) {
    const int before = max_threads();
    set_threads(threads);
    Classifier model(s.model);
    Optimizer opt(model.params(), s.config.optimizer);
    TrainState state;
    TrainConfig c = s.config;
    c.micro_shards = micro_shards;
    TrainHooks hooks;
    hooks.exchange = exchange;
    train(model, opt, s.train_set, s.test_set, c, state, hooks);
    set_threads(before);
    return weights_and_state(model, opt);
}

// train() as it was before micro-shards: one forward and backward over the whole batch per step.
std::vector<Tensor> trained_by_the_plain_loop(const Setup& s) {
    Classifier model(s.model);
    Optimizer opt(model.params(), s.config.optimizer);
    const std::int64_t n = s.train_set.size(), d = s.train_set.dim(), B = s.config.batch_size;
    const long steps_per_epoch = static_cast<long>((n + B - 1) / B), total = steps_per_epoch * s.config.epochs;
    const Rng root(s.config.seed);
    long step = 0;
    for (int epoch = 0; epoch < s.config.epochs; ++epoch) {
        const Rng shuffle = root.split("shuffle").split(static_cast<std::uint64_t>(epoch));
        std::vector<std::int64_t> order(static_cast<std::size_t>(n));
        std::iota(order.begin(), order.end(), 0);
        for (std::int64_t i = n - 1; i > 0; --i)
            std::swap(order[static_cast<std::size_t>(i)],
                      order[shuffle.below(static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i + 1))]);
        for (long st = 0; st < steps_per_epoch; ++st) {
            const std::int64_t b0 = st * B, bn = std::min(B, n - b0);
            Tensor x(Shape{bn, d});
            std::vector<int> y(static_cast<std::size_t>(bn));
            for (std::int64_t i = 0; i < bn; ++i) {
                const std::int64_t row = order[static_cast<std::size_t>(b0 + i)];
                std::copy_n(s.train_set.x.data() + row * d, d, x.data() + i * d);
                y[static_cast<std::size_t>(i)] = s.train_set.y[static_cast<std::size_t>(row)];
            }
            opt.set_lr(scheduled_lr(s.config, step, total));
            opt.zero_grad();
            ForwardOptions fo;
            fo.training = true;
            fo.rng = root.split("step").split(static_cast<std::uint64_t>(step));
            backward(standard_batch_loss(model, x, y, fo, s.config).loss);
            opt.step();
            ++step;
        }
    }
    return weights_and_state(model, opt);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(micro_shards)

BOOST_AUTO_TEST_CASE(one_micro_shard_is_the_plain_full_batch_step_bit_for_bit) {
    const Setup s;
    BOOST_TEST(bitwise_identical(trained(s, 1, 1), trained_by_the_plain_loop(s)));
}

BOOST_AUTO_TEST_CASE(four_micro_shards_give_the_same_bits_at_1_and_2_threads) {
    const Setup s;
    const auto one = trained(s, 4, 1);
    BOOST_TEST(bitwise_identical(one, trained(s, 4, 2)));
    BOOST_TEST(!bitwise_identical(one, trained(s, 1, 1)));   // the shards are real: other noise, per-shard balance loss
}

// Two threads play two data-parallel processes, each with its own model, meeting in a loopback allgather.
BOOST_AUTO_TEST_CASE(four_micro_shards_over_two_processes_give_the_one_process_bits) {
    const Setup s;
    const auto alone = trained(s, 4, 1);
    std::barrier<> meet(2);
    std::vector<double> shared;
    std::vector<std::vector<Tensor>> result(2);
    auto process = [&](int rank) {
        ShardExchange ex;
        ex.rank = rank;
        ex.ranks = 2;
        ex.allgather = [&, rank](const std::vector<double>& mine, std::vector<double>& all) {
            if (rank == 0) shared.assign(2 * mine.size(), 0.0);
            meet.arrive_and_wait();
            std::copy(mine.begin(), mine.end(), shared.begin() + static_cast<std::ptrdiff_t>(rank * mine.size()));
            meet.arrive_and_wait();
            all = shared;
            meet.arrive_and_wait();
        };
        result[static_cast<std::size_t>(rank)] = trained(s, 4, 1, ex);
    };
    std::thread other(process, 1);
    process(0);
    other.join();
    BOOST_TEST(bitwise_identical(alone, result[0]));
    BOOST_TEST(bitwise_identical(alone, result[1]));
}

BOOST_AUTO_TEST_CASE(micro_shards_must_be_a_multiple_of_the_processes) {
    const Setup s;
    ShardExchange ex;
    ex.ranks = 3;
    ex.allgather = [](const std::vector<double>& mine, std::vector<double>& all) { all = mine; };
    try {
        trained(s, 4, 1, ex);
        BOOST_FAIL("4 micro-shards over 3 processes were accepted");
    } catch (const ConfigError& e) {
        BOOST_TEST(e.key == "micro-shards");
        BOOST_TEST(cli::user_message(e).find("--micro-shards: 4 is not a multiple of the 3") != std::string::npos);
    }
    TrainConfig c;
    c.micro_shards = 0;
    BOOST_CHECK_THROW(c.validate(), std::invalid_argument);
    // Plain configs keep their bytes (no micro_shards key); others round-trip.
    BOOST_TEST(!to_json(TrainConfig{}).contains("micro_shards"));
    c.micro_shards = 4;
    BOOST_TEST(train_config_from_json(to_json(c)).micro_shards == 4);
}

BOOST_AUTO_TEST_SUITE_END()
