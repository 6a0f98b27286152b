#include "moe/train.hpp"

#include "moe/divergence.hpp"
#include "engine/config_error.hpp"
#include "moe/shard_step.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <stdexcept>
#include <type_traits>

namespace moelab {

LrSchedule parse_lr_schedule(const std::string& name) {
    if (const auto s = find_by_name(kLrSchedules, name)) return *s;
    throw ConfigError("schedule", "unknown schedule '" + name + "' (expected constant, cosine or step)");
}

void TrainConfig::validate() const {
    auto require = [](bool ok, const std::string& key, const std::string& what) {
        if (!ok) throw ConfigError(key, what);
    };
    require(epochs >= 1, "epochs", "must be at least 1, got " + std::to_string(epochs));
    require(batch_size >= 1, "batch-size", "must be at least 1, got " + std::to_string(batch_size));
    require(lb_weight >= 0.0 && std::isfinite(lb_weight), "lb-weight", "must be >= 0");
    require(z_weight >= 0.0 && std::isfinite(z_weight), "z-weight", "must be >= 0");
    require(optimizer.lr > 0.0 && std::isfinite(optimizer.lr), "lr", "must be positive");
    require(optimizer.weight_decay >= 0.0, "weight-decay", "must be >= 0");
    require(optimizer.momentum >= 0.0 && optimizer.momentum < 1.0, "momentum", "must be in [0, 1)");
    require(micro_shards >= 1, "micro-shards", "must be at least 1, got " + std::to_string(micro_shards));
}

nlohmann::json to_json(const TrainConfig& c) {
    nlohmann::json j = {{"epochs", c.epochs},
            {"batch_size", c.batch_size},
            {"optimizer", to_string(c.optimizer.kind)},
            {"lr", c.optimizer.lr},
            {"momentum", c.optimizer.momentum},
            {"weight_decay", c.optimizer.weight_decay},
            {"schedule", to_string(c.schedule)},
            {"seed", c.seed},
            {"lb_weight", c.lb_weight},
            {"z_weight", c.z_weight},
            {"lb_convention", to_string(c.lb_convention)}};
    if (c.micro_shards != 1) j["micro_shards"] = c.micro_shards;
    return j;
}

TrainConfig train_config_from_json(const nlohmann::json& j) {
    if (!j.is_object()) throw std::invalid_argument("train config: expected a JSON object");
    static const std::set<std::string> known{"epochs", "batch_size", "optimizer", "lr",       "momentum",     "weight_decay",
                                             "schedule", "seed",     "lb_weight", "z_weight", "lb_convention",
                                             "micro_shards"};
    for (const auto& [key, _] : j.items())
        if (!known.count(key)) throw std::invalid_argument("train config: unknown key '" + key + "'");
    TrainConfig c;
    auto get = [&](const char* key, auto& dst) {
        if (!j.contains(key)) return;
        // nlohmann turns a JSON float into an integer by a plain cast, undefined behaviour when it does not
        // fit (found by tests/fuzz/fuzz_config): integer keys refuse floats as the wrong type.
        using T = std::remove_cvref_t<decltype(dst)>;
        bool float_for_integer = false;
        if constexpr (std::is_integral_v<T>) float_for_integer = j.at(key).is_number_float();
        if (float_for_integer)
            throw std::invalid_argument(std::string("train config: key '") + key + "' has the wrong type");
        try {
            j.at(key).get_to(dst);
        } catch (const nlohmann::json::exception&) {
            throw std::invalid_argument(std::string("train config: key '") + key + "' has the wrong type");
        }
    };
    std::string opt = to_string(c.optimizer.kind), conv = to_string(c.lb_convention), schedule = to_string(c.schedule);
    get("epochs", c.epochs);
    get("batch_size", c.batch_size);
    get("optimizer", opt);
    get("lr", c.optimizer.lr);
    get("momentum", c.optimizer.momentum);
    get("weight_decay", c.optimizer.weight_decay);
    get("schedule", schedule);
    get("seed", c.seed);
    get("lb_weight", c.lb_weight);
    get("z_weight", c.z_weight);
    get("lb_convention", conv);
    get("micro_shards", c.micro_shards);
    c.optimizer.kind = parse_optimizer_kind(opt);
    c.lb_convention = parse_balance_convention(conv);
    c.schedule = parse_lr_schedule(schedule);
    c.validate();
    return c;
}

double scheduled_lr(const TrainConfig& c, long step, long total_steps) {
    const double lr = c.optimizer.lr;
    const double frac = total_steps > 0 ? static_cast<double>(step) / static_cast<double>(total_steps) : 0.0;
    switch (c.schedule) {
    case LrSchedule::cosine: return lr * 0.5 * (1.0 + std::cos(3.14159265358979323846 * frac));
    case LrSchedule::step: return lr * std::pow(0.1, std::floor(3.0 * frac));
    default: return lr;
    }
}

namespace {

Tensor gather_rows(const Tensor& x, const std::vector<std::int64_t>& idx) {
    const std::int64_t d = x.cols();
    Tensor out(Shape{static_cast<std::int64_t>(idx.size()), d});
    for (std::size_t j = 0; j < idx.size(); ++j)
        std::copy_n(x.data() + idx[j] * d, d, out.data() + static_cast<std::int64_t>(j) * d);
    return out;
}

std::vector<std::int64_t> shuffled(std::int64_t n, const Rng& rng) {
    std::vector<std::int64_t> p(static_cast<std::size_t>(n));
    std::iota(p.begin(), p.end(), 0);
    for (std::int64_t i = n - 1; i > 0; --i)
        std::swap(p[static_cast<std::size_t>(i)],
                  p[rng.below(static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i + 1))]);
    return p;
}

}  // namespace

EvalResult evaluate(const Classifier& model, const Dataset& data, std::int64_t batch_size, std::int64_t k_override) {
    NoGradGuard no_grad;
    EvalResult r;
    const std::int64_t n = data.size();
    const bool moe = !model.moe_layers().empty();
    const std::int64_t E = model.config().experts;
    std::vector<std::int64_t> correct_by_expert;
    if (moe) {
        r.expert_samples.assign(static_cast<std::size_t>(E), 0);
        correct_by_expert.assign(static_cast<std::size_t>(E), 0);
    }
    std::vector<std::vector<std::int64_t>> selections(model.moe_layers().size(),
                                                      std::vector<std::int64_t>(static_cast<std::size_t>(E), 0));
    double loss_sum = 0.0;
    std::int64_t correct = 0;
    ForwardOptions opt;
    opt.k_override = k_override;
    for (std::int64_t b0 = 0; b0 < n; b0 += batch_size) {
        const std::int64_t m = std::min(batch_size, n - b0);
        std::vector<std::int64_t> idx(static_cast<std::size_t>(m));
        std::iota(idx.begin(), idx.end(), b0);
        const ModelOutput out = model.forward(Var(gather_rows(data.x, idx)), opt);
        const std::vector<int> labels(data.y.begin() + b0, data.y.begin() + b0 + m);
        loss_sum += cross_entropy(out.logits, labels).value().item() * static_cast<double>(m);
        const auto pred = argmax_rows(out.logits.value());
        for (std::size_t l = 0; l < out.routings.size() && l < selections.size(); ++l)
            count_selections(out.routings[l], selections[l]);
        for (std::int64_t i = 0; i < m; ++i) {
            const bool ok = pred[static_cast<std::size_t>(i)] == labels[static_cast<std::size_t>(i)];
            correct += ok;
            r.predictions.push_back(pred[static_cast<std::size_t>(i)]);
            if (moe) {
                const Routing& routing = out.routings.front();
                const std::int64_t e = routing.expert[static_cast<std::size_t>(i * routing.k)];
                r.top1_expert.push_back(e);
                ++r.expert_samples[static_cast<std::size_t>(e)];
                correct_by_expert[static_cast<std::size_t>(e)] += ok;
            }
        }
    }
    for (const auto& counts : selections) r.usage.push_back(expert_usage(counts));
    r.loss = n > 0 ? loss_sum / static_cast<double>(n) : 0.0;
    r.accuracy = n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : 0.0;
    for (std::size_t e = 0; e < r.expert_samples.size(); ++e)
        r.expert_accuracy.push_back(r.expert_samples[e] > 0 ? static_cast<double>(correct_by_expert[e]) /
                                                                   static_cast<double>(r.expert_samples[e])
                                                             : std::numeric_limits<double>::quiet_NaN());
    return r;
}

namespace {

std::vector<ExpertUsage> usage_from_json(const nlohmann::json& j, const char* key) {
    std::vector<ExpertUsage> layers;
    if (!j.contains(key)) return layers;   // written before usage was measured
    if (!j.at(key).is_array()) throw std::invalid_argument(std::string("epoch metrics: key '") + key + "' must be an array");
    for (const auto& u : j.at(key)) layers.push_back(expert_usage_from_json(u));
    return layers;
}

}  // namespace

nlohmann::json to_json(const EpochMetrics& m) {
    nlohmann::json j = {{"epoch", m.epoch},
                        {"lr", m.lr},
                        {"train_loss", m.train_loss},
                        {"aux_loss", m.aux_loss},
                        {"train_accuracy", m.train_accuracy},
                        {"test_loss", m.test_loss},
                        {"test_accuracy", m.test_accuracy},
                        {"expert_load", m.expert_load},
                        {"router_entropy", m.router_entropy},
                        {"dropped_tokens", m.dropped_tokens},
                        {"seconds", m.seconds}};
    if (!m.train_usage.empty() || !m.test_usage.empty()) {
        j["train_usage"] = to_json(m.train_usage);
        j["test_usage"] = to_json(m.test_usage);
    }
    return j;
}

EpochMetrics epoch_metrics_from_json(const nlohmann::json& j) {
    EpochMetrics m;
    m.epoch = j.at("epoch").get<int>();
    m.lr = j.at("lr").get<double>();
    m.train_loss = j.at("train_loss").get<double>();
    m.aux_loss = j.at("aux_loss").get<double>();
    m.train_accuracy = j.at("train_accuracy").get<double>();
    m.test_loss = j.at("test_loss").get<double>();
    m.test_accuracy = j.at("test_accuracy").get<double>();
    m.expert_load = j.at("expert_load").get<std::vector<std::int64_t>>();
    m.router_entropy = j.at("router_entropy").get<double>();
    m.dropped_tokens = j.at("dropped_tokens").get<std::int64_t>();
    m.seconds = j.value("seconds", 0.0);   // absent from checkpoints (moe/model_io.cpp)
    m.train_usage = usage_from_json(j, "train_usage");
    m.test_usage = usage_from_json(j, "test_usage");
    return m;
}

std::string collapse_warning(const EpochMetrics& m) {
    const bool test = any_collapsed(m.test_usage), train = any_collapsed(m.train_usage);
    if (!test && !train) return "";
    const std::vector<ExpertUsage>& shown = test ? m.test_usage : m.train_usage;
    return std::string("warning: routing collapsed (") + (test ? "test set" : "training batches") + ", epoch " +
           std::to_string(m.epoch) + "): " + usage_line(shown);
}

BatchLoss standard_batch_loss(Classifier& model, const Tensor& x, const std::vector<int>& labels,
                              const ForwardOptions& fo, const TrainConfig& config) {
    BatchLoss b;
    b.out = model.forward(Var(x), fo);
    b.ce = cross_entropy(b.out.logits, labels);
    b.loss = b.ce;
    b.aux = model.aux_loss(b.out, config.lb_weight, config.z_weight, config.lb_convention);
    if (b.aux.defined()) b.loss = add(b.loss, b.aux);
    return b;
}

namespace {

// Micro-shards (train.hpp): of the S shards of every step, this process computes [first, first + mine).
struct ShardPlan {
    int S = 1, first = 0, mine = 1;
};

ShardPlan shard_plan(const TrainConfig& config, const ShardExchange& ex) {
    const int S = config.micro_shards;
    if (ex.ranks < 1 || ex.rank < 0 || ex.rank >= ex.ranks || (ex.ranks > 1 && !ex.allgather))
        throw std::invalid_argument("data parallelism: process " + std::to_string(ex.rank) + " of " +
                                    std::to_string(ex.ranks) + " needs an allgather");
    if (S % ex.ranks != 0)
        throw ConfigError("micro-shards", std::to_string(S) + " is not a multiple of the " +
                                  std::to_string(ex.ranks) + " data-parallel processes (each computes S / N shards)");
    const int mine = S / ex.ranks;
    return {S, ex.rank * mine, mine};
}

// This process's shards of one step (the batch: rows batch[0, bn) of the training set), one record each.
void compute_shards(const ShardPlan& plan, const ShardRecords& records, const TrainHooks& hooks, const Dataset& train_set,
                    const std::int64_t* batch, std::int64_t bn, const Rng& step_rng, const TrainConfig& config,
                    std::vector<double>& my_records) {
    const int S = plan.S;
    for (int j = 0; j < plan.mine; ++j) {
        const int shard = plan.first + j;
        double* record = my_records.data() + static_cast<std::size_t>(j) * records.size();
        const std::int64_t lo = bn * shard / S, hi = bn * (shard + 1) / S;
        if (hi == lo) {
            records.empty(record);
            continue;
        }
        std::vector<std::int64_t> idx(batch + lo, batch + hi);
        std::vector<int> labels(idx.size());
        for (std::size_t i = 0; i < idx.size(); ++i) labels[i] = train_set.y[static_cast<std::size_t>(idx[i])];
        ForwardOptions fo;
        fo.training = true;
        fo.rng = S == 1 ? step_rng : step_rng.split(static_cast<std::uint64_t>(shard));
        const double weight = static_cast<double>(hi - lo) / static_cast<double>(bn);
        records.compute(hooks.batch_loss, gather_rows(train_set.x, idx), labels, fo, config, weight, record);
    }
}

}  // namespace

void train(Classifier& model, Optimizer& optimizer, const Dataset& train_set, const Dataset& test_set,
           const TrainConfig& config, TrainState& state, const TrainHooks& hooks) {
    config.validate();
    if (train_set.dim() != model.config().input_dim)
        throw std::invalid_argument("training data has dimension " + std::to_string(train_set.dim()) +
                                    ", the model expects " + std::to_string(model.config().input_dim));
    const std::int64_t n = train_set.size();
    const long steps_per_epoch = static_cast<long>((n + config.batch_size - 1) / config.batch_size);
    const long total_steps = steps_per_epoch * config.epochs;
    const Rng root(config.seed);
    const std::int64_t E = model.config().experts;
    const ShardExchange& ex = hooks.exchange;
    const ShardPlan plan = shard_plan(config, ex);
    const int S = plan.S, mine = plan.mine;
    const ShardRecords records(model, S == 1);
    std::vector<double> my_records(static_cast<std::size_t>(mine) * records.size()), all_records;
    if (ex.ranks > 1) all_records.resize(static_cast<std::size_t>(S) * records.size());
    DivergenceWatch watch(model.config().classes, steps_per_epoch);
    for (int epoch = state.epochs_done; epoch < config.epochs; ++epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        watch.new_epoch();
        const auto order = shuffled(n, root.split("shuffle").split(static_cast<std::uint64_t>(epoch)));
        EpochMetrics m;
        m.epoch = epoch + 1;
        std::vector<std::int64_t> layer_loads(model.moe_layers().size() * static_cast<std::size_t>(E), 0);
        double loss_sum = 0.0, aux_sum = 0.0, entropy_sum = 0.0;
        std::int64_t correct = 0, routed_batches = 0;
        for (long s = 0; s < steps_per_epoch; ++s) {
            const std::int64_t b0 = s * config.batch_size, bn = std::min(config.batch_size, n - b0);
            optimizer.set_lr(scheduled_lr(config, state.step, total_steps));
            const Rng step_rng = root.split("step").split(static_cast<std::uint64_t>(state.step));
            compute_shards(plan, records, hooks, train_set, order.data() + b0, bn, step_rng, config, my_records);
            if (ex.ranks > 1) ex.allgather(my_records, all_records);
            // Every process adds the same S records in shard order: same gradient, same step, same weights.
            const StepTotals t = records.sum(ex.ranks > 1 ? all_records : my_records, S);
            if (!std::isfinite(t.loss))
                throw std::runtime_error("training diverged: loss is " + std::to_string(t.loss) + " at epoch " +
                                         std::to_string(epoch + 1) + ", step " + std::to_string(s + 1) +
                                         "; the last checkpoint holds the last good epoch");
            optimizer.step();
            watch.after_step(model.params(), t.ce, epoch + 1, s + 1);
            ++state.step;
            loss_sum += t.ce;
            aux_sum += t.aux;
            correct += t.correct;
            if (t.routed) {
                for (std::size_t e = 0; e < t.expert_load.size(); ++e) layer_loads[e] += t.expert_load[e];
                entropy_sum += t.entropy;
                ++routed_batches;
            }
            m.dropped_tokens += t.dropped;
            if (hooks.on_step) hooks.on_step(s + 1, steps_per_epoch, loss_sum / static_cast<double>(s + 1));
        }
        m.lr = optimizer.lr();
        m.train_loss = loss_sum / static_cast<double>(steps_per_epoch);
        m.aux_loss = aux_sum / static_cast<double>(steps_per_epoch);
        m.train_accuracy = static_cast<double>(correct) / static_cast<double>(n);
        m.router_entropy = routed_batches > 0 ? entropy_sum / static_cast<double>(routed_batches) : 0.0;
        const EvalResult test = evaluate(model, test_set);
        for (std::size_t l = 0; l < model.moe_layers().size(); ++l)
            m.train_usage.push_back(expert_usage(std::vector<std::int64_t>(
                layer_loads.begin() + static_cast<std::ptrdiff_t>(l) * E, layer_loads.begin() + static_cast<std::ptrdiff_t>(l + 1) * E)));
        if (!m.train_usage.empty()) m.expert_load = m.train_usage.front().selections;
        m.test_usage = test.usage;
        m.test_loss = test.loss;
        m.test_accuracy = test.accuracy;
        m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        state.history.push_back(m);
        state.epochs_done = epoch + 1;
        if (hooks.on_epoch) hooks.on_epoch(state, optimizer);
    }
}

}  // namespace moelab
