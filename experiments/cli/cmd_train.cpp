// moelab train: train an MoE or dense classifier deterministically; checkpoint every epoch.
//
// Writes DIR/model.ckpt (parameters, optimizer state, configs, history), DIR/model.npz (the self-describing
// model file for NumPy/PyTorch: moe/model_file.hpp) and DIR/metrics.json (test_accuracy and per-epoch entries), each atomically.
// --resume continues from DIR/model.ckpt, which must come from the same flags (only --epochs and
// --stop-after may differ); the result is bitwise identical to an uninterrupted run.
//
// Data parallelism: `mpirun -np N moelab train --parallel data --micro-shards S ...` cuts each batch into
// S micro-shards (moe/train.hpp), S / N per process, and every process adds all S shard gradients in shard
// order (experiments/cluster/mpi_session.hpp). The weights equal those of a one-process run with the same
// --micro-shards, whatever N. Rank 0 alone writes the files.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "engine/bounded_read.hpp"
#include "engine/parallel.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/io/data_spec.hpp"
#include "experiments/cli/flag_values.hpp"
#include "experiments/cli/json_config.hpp"
#include "experiments/io/model_file_io.hpp"
#include "experiments/cluster/mpi_session.hpp"
#include "experiments/io/progress.hpp"
#include "experiments/io/run_lock.hpp"
#include "experiments/cli/threads_flag.hpp"
#include "moe/model_io.hpp"
#include "moe/model_size.hpp"

namespace moelab::cli {

namespace {

struct TrainFlags {
    std::string data = "fashion-mnist", model = "moe", gate = "softmax-topk", optimizer = "adam",
                lb_convention = "all-picks", router = "learned", schedule = "constant", match = "",
                parallel = "none", out;
    ModelConfig m;
    TrainConfig t;
    std::int64_t train_limit = kAllCount, test_limit = kAllCount, stop_after = kAllCount;
    int threads = kThreadsUnset;
    bool resume = false, force = false;
};

nlohmann::json metrics_json(const Classifier& model, const TrainState& state, const std::string& data) {
    nlohmann::json epochs = nlohmann::json::array();
    for (const auto& m : state.history) epochs.push_back(to_json(m));
    const EpochMetrics& last = state.history.back();
    return {{"test_accuracy", last.test_accuracy},
            {"test_loss", last.test_loss},
            {"train_loss", last.train_loss},
            {"epochs_done", state.epochs_done},
            {"steps", state.step},
            {"parameters", model.params().numel()},
            {"model", to_json(model.config())},
            {"data", data},
            {"epochs", epochs}};
}

// Which micro-shards this process computes; throws naming --parallel or --micro-shards.
ShardExchange data_parallel_exchange(const TrainFlags& f) {
    if (f.parallel != "none" && f.parallel != "data")
        throw std::invalid_argument("--parallel: expected none or data, got '" + f.parallel + "'");
    const int launched = mpi::launched_ranks();
    if (launched > 1 && !mpi::compiled_in())
        throw std::invalid_argument("--parallel: launched as " + std::to_string(launched) +
                                    " processes, but this moelab was built without MPI (see moelab info)");
    if (mpi::size() > 1 && f.parallel != "data")
        throw std::invalid_argument("--parallel: launched as " + std::to_string(mpi::size()) +
                                    " MPI processes; pass --parallel data (or run one process)");
    if (f.t.micro_shards % mpi::size() != 0)
        throw std::invalid_argument("--micro-shards: " + std::to_string(f.t.micro_shards) + " is not a multiple of the " +
                                    std::to_string(mpi::size()) + " MPI processes (each computes S / N micro-shards)");
    ShardExchange ex;
    ex.rank = mpi::rank();
    ex.ranks = mpi::size();
    if (ex.ranks > 1) ex.allgather = mpi::allgather;
    return ex;
}

// The cost of the gradient exchange, for scaling estimates (README "Running on a cluster").
void report_exchange(const TrainState& state, const ShardExchange& ex, std::int64_t parameters) {
    const mpi::ExchangeStats st = mpi::exchange_stats();
    double train_seconds = 0.0;
    for (const auto& m : state.history) train_seconds += m.seconds;
    const double calls = static_cast<double>(std::max(1L, st.calls));
    std::fprintf(stderr,
                 "data-parallel: %d processes, %lld parameters; gradient exchange %ld steps, %.3f MB received and "
                 "%.2f ms per step per process (%.1f%% of %.2f s in epochs)\n",
                 ex.ranks, static_cast<long long>(parameters), st.calls, st.bytes_received / calls / 1e6,
                 1e3 * st.seconds / calls, train_seconds > 0 ? 100.0 * st.seconds / train_seconds : 0.0, train_seconds);
}

// Refuses to replace a run without --resume or --force, then (rank 0) locks the directory for this run.
std::unique_ptr<RunLock> claim_run_dir(const TrainFlags& f, bool writer, const std::string& ckpt) {
    // Every rank sees the same directory, so every rank refuses alike (no rank left waiting in a collective).
    if (!f.resume && !f.force && std::filesystem::exists(ckpt))
        throw std::invalid_argument("--out " + f.out + ": holds a run (" + ckpt +
                                    "); pass --resume to continue it or --force to replace it");
    if (!writer) return nullptr;   // rank 0's lock alone: a failure there ends the whole job (moelab_main.cpp)
    std::filesystem::create_directories(f.out);
    return std::make_unique<RunLock>(f.out);
}

// The named choices parsed and the training flags checked, before any data is read.
void resolve_flags(TrainFlags& f) {
    apply_threads_flag(f.threads);
    f.train_limit = count_flag("--train-limit", f.train_limit);
    f.test_limit = count_flag("--test-limit", f.test_limit);
    f.stop_after = std::max<std::int64_t>(0, count_flag("--stop-after", f.stop_after));   // 0: no stop
    f.m.kind = parse_model_kind(f.model);
    f.m.gate = parse_gate_mode(f.gate);
    f.m.router = parse_router_training(f.router);
    f.t.optimizer.kind = parse_optimizer_kind(f.optimizer);
    f.t.lb_convention = parse_balance_convention(f.lb_convention);
    f.t.schedule = parse_lr_schedule(f.schedule);
    f.m.seed = f.t.seed;
    if (!f.match.empty()) {
        if (f.m.kind != ModelKind::mlp) throw std::invalid_argument("--match: only applies to --model mlp");
        ModelConfig moe = f.m;
        moe.kind = ModelKind::moe;
        f.m = dense_baseline(moe, parse_baseline_match(f.match));
    }
    f.t.validate();
}

struct Session {
    std::unique_ptr<Classifier> model;
    TrainState state;
    std::unique_ptr<Optimizer> optimizer;
    bool nothing_to_train = false;   // --resume of a run that already holds every epoch
};

// A resumed run must have been trained with the same flags, on the same data, for no more epochs.
void require_same_run(const TrainFlags& f, const std::string& ckpt, const SavedModel& saved) {
    if (to_json(saved.model->config()) != to_json(f.m))
        throw std::invalid_argument("--resume: " + ckpt + " holds model " + to_json(saved.model->config()).dump() +
                                    ", the flags ask for " + to_json(f.m).dump());
    TrainConfig a = saved.train, b = f.t;
    a.epochs = b.epochs = 0;
    if (to_json(a) != to_json(b))
        throw std::invalid_argument("--resume: " + ckpt + " was trained with " + to_json(saved.train).dump() +
                                    ", the flags ask for " + to_json(f.t).dump());
    if (saved.data_spec != f.data)
        throw std::invalid_argument("--resume: " + ckpt + " was trained on '" + saved.data_spec + "', not '" + f.data + "'");
    if (saved.state.epochs_done > f.t.epochs)
        throw std::invalid_argument("--epochs " + std::to_string(f.t.epochs) + ": " + ckpt + " already holds " +
                                    std::to_string(saved.state.epochs_done) + " epochs; nothing to train");
}

// A new model, or with --resume the checkpoint's.
Session start_or_resume(const TrainFlags& f, const std::string& ckpt, bool writer) {
    Session s;
    if (!f.resume) {
        s.model = std::make_unique<Classifier>(f.m);
        s.optimizer = std::make_unique<Optimizer>(s.model->params(), f.t.optimizer);
        return s;
    }
    SavedModel saved = load_model(ckpt);
    require_same_run(f, ckpt, saved);
    s.model = std::move(saved.model);
    s.state = saved.state;
    s.optimizer = std::make_unique<Optimizer>(s.model->params(), f.t.optimizer);
    load_optimizer_state(saved, *s.optimizer, ckpt);
    if (s.state.epochs_done == f.t.epochs) {
        if (writer)
            std::fprintf(stderr, "%s already holds all %d epochs; nothing to train, nothing written\n", ckpt.c_str(),
                         s.state.epochs_done);
        s.nothing_to_train = true;
    } else if (writer) {
        std::fprintf(stderr, "resuming %s after epoch %d (step %ld)\n", ckpt.c_str(), s.state.epochs_done, s.state.step);
    }
    return s;
}

// The progress bar per step and, after each epoch, the checkpoint, the model file, the metrics and last the
// manifest that commits them together (rank 0).
TrainHooks writing_hooks(const TrainFlags& f, const std::string& ckpt, Session& s, std::unique_ptr<Progress>& bar,
                         const ShardExchange& exchange, const DataSplits& data) {
    const bool writer = exchange.rank == 0;
    const int final_epochs = f.t.epochs;
    TrainHooks hooks;
    hooks.exchange = exchange;
    hooks.on_step = [&s, &bar, writer, final_epochs](long step, long total, double loss) {
        if (!writer) return;
        if (step == 1) bar = std::make_unique<Progress>("epoch " + std::to_string(s.state.epochs_done + 1) + "/" +
                                                            std::to_string(final_epochs), total);
        std::ostringstream note;
        note.precision(4);
        note << "loss " << loss;
        bar->update(step, note.str());
    };
    hooks.on_epoch = [&f, &s, &bar, &data, ckpt, writer, final_epochs](const TrainState& st, const Optimizer& opt) {
        if (!writer) return;
        const EpochMetrics& m = st.history.back();
        std::ostringstream note;
        note.precision(4);
        note << "loss " << m.train_loss << ", test accuracy " << m.test_accuracy;
        if (bar) bar->finish(note.str());
        // Same flags, the run's real target: a resumed run compares equal.
        TrainConfig saved_config = f.t;
        saved_config.epochs = final_epochs;
        save_model(ckpt, *s.model, &opt, saved_config, st, f.data);
        write_model_file(f.out + "/model.npz", *s.model, data_conventions(data, f.data));
        write_file_atomic(f.out + "/metrics.json", metrics_json(*s.model, st, f.data).dump(2) + "\n");
        write_manifest(f.out, st.epochs_done, {"model.ckpt", "model.npz", "metrics.json"});   // last: commits the epoch
    };
    return hooks;
}

// Trains to the final epoch count, or stops after --stop-after epochs (the schedule still follows the final
// count, so a resumed run continues bit for bit). Returns false when it stopped early.
bool train_or_stop(const TrainFlags& f, Session& s, const DataSplits& data, const TrainHooks& hooks, bool writer) {
    if (!(f.stop_after > 0 && f.stop_after < f.t.epochs)) {
        train(*s.model, *s.optimizer, data.train, data.test, f.t, s.state, hooks);
        return true;
    }
    TrainHooks stopping = hooks;
    stopping.on_epoch = [&](const TrainState& st, const Optimizer& opt) {
        hooks.on_epoch(st, opt);
        if (st.epochs_done >= f.stop_after) throw std::runtime_error("stop-after");
    };
    try {
        train(*s.model, *s.optimizer, data.train, data.test, f.t, s.state, stopping);
    } catch (const std::runtime_error& e) {
        if (std::string(e.what()) != "stop-after") throw;
        if (writer) std::fprintf(stderr, "stopped after epoch %d as asked; continue with --resume\n", s.state.epochs_done);
        return false;
    }
    return true;
}

void run_train(TrainFlags& f) {
    resolve_flags(f);
    const ShardExchange exchange = data_parallel_exchange(f);
    const bool writer = exchange.rank == 0;   // rank 0 alone writes files and shows progress
    const DataSplits data = load_data(f.data, f.train_limit, f.test_limit);
    f.m.input_dim = data.train.dim();
    f.m.classes = data.train.num_classes;
    f.m.validate();
    // Weights, gradients and two Adam moments: four doubles per parameter.
    require_memory(static_cast<std::uint64_t>(std::min(parameter_lower_bound(f.m) * 4 * sizeof(double), 1.8e19)),
                   "the model of --width, --hidden, --experts and --depth");
    // Before training: one run per directory, and an existing run is not replaced by accident.
    const std::string ckpt = f.out + "/model.ckpt";
    const std::unique_ptr<RunLock> lock = claim_run_dir(f, writer, ckpt);
    Session s = start_or_resume(f, ckpt, writer);
    if (s.nothing_to_train) return;
    if (writer)
        std::fprintf(stderr, "training %s (%lld parameters) on %s: %lld train / %lld test samples, %d threads%s\n",
                     to_string(f.m.kind).c_str(), static_cast<long long>(s.model->params().numel()), f.data.c_str(),
                     static_cast<long long>(data.train.size()), static_cast<long long>(data.test.size()), max_threads(),
                     exchange.ranks > 1 ? (", " + std::to_string(exchange.ranks) + " MPI processes x " +
                                           std::to_string(f.t.micro_shards / exchange.ranks) + " micro-shards").c_str()
                                        : "");
    std::unique_ptr<Progress> bar;
    const TrainHooks hooks = writing_hooks(f, ckpt, s, bar, exchange, data);
    if (!train_or_stop(f, s, data, hooks, writer) || !writer) return;
    const std::string warning = collapse_warning(s.state.history.back());
    if (!warning.empty()) std::fprintf(stderr, "%s\n", warning.c_str());
    if (exchange.ranks > 1) report_exchange(s.state, exchange, s.model->params().numel());
    std::printf("test_accuracy %.4f after %d epochs; wrote %s/{model.ckpt,model.npz,metrics.json}\n",
                s.state.history.back().test_accuracy, s.state.epochs_done, f.out.c_str());
}
}  // namespace

void add_train_command(CLI::App& app, int& exit_code) {
    auto flags = std::make_shared<TrainFlags>();
    auto* sub = app.add_subcommand("train", "train an MoE or dense classifier");
    TrainFlags& f = *flags;
    auto config_path = std::make_shared<std::string>();
    sub->add_option("--config", *config_path, "JSON or TOML file of flag values (keys are flag names)");
    sub->add_option("--data", f.data, "fashion-mnist or clusters:K=8,d=16,C=2,n=2000,sep=4,noise=1,seed=1")
        ->capture_default_str();
    sub->add_option("--out", f.out, "output directory")->required();
    sub->add_option("--model", f.model, "mlp, moe or moe-model")->capture_default_str();
    sub->add_option("--match", f.match, "with --model mlp: dense baseline of the MoE flags, 'compute' or 'params'");
    sub->add_option("--experts", f.m.experts, "number of experts E")->capture_default_str();
    sub->add_option("--top-k", f.m.top_k, "experts per input k")->capture_default_str();
    sub->add_option("--gate", f.gate, "softmax-topk, topk-softmax or soft")->capture_default_str();
    sub->add_option("--router", f.router,
                    "learned, or frozen: the router keeps its random initialisation (no gradient; P2's released code)")
        ->capture_default_str();
    sub->add_flag("--noisy", f.m.noisy, "noisy top-k gating (Shazeer et al. 2017)");
    sub->add_option("--capacity-factor", f.m.capacity_factor, "expert capacity factor (0 = unlimited)")
        ->capture_default_str();
    sub->add_option("--width", f.m.width, "model width")->capture_default_str();
    sub->add_option("--depth", f.m.depth, "number of blocks")->capture_default_str();
    sub->add_option("--hidden", f.m.hidden, "FFN / expert hidden width (0 = linear experts)")->capture_default_str();
    sub->add_option("--moe-blocks", f.m.moe_blocks, "which blocks are MoE (default all)");
    sub->add_option("--dropout", f.m.dropout, "dropout probability")->capture_default_str();
    sub->add_option("--epochs", f.t.epochs, "training epochs")->capture_default_str();
    sub->add_option("--batch-size", f.t.batch_size, "batch size")->capture_default_str();
    sub->add_option("--optimizer", f.optimizer, "sgd, adam or adamw")->capture_default_str();
    sub->add_option("--lr", f.t.optimizer.lr, "learning rate")->capture_default_str();
    sub->add_option("--momentum", f.t.optimizer.momentum, "SGD momentum")->capture_default_str();
    sub->add_option("--weight-decay", f.t.optimizer.weight_decay, "weight decay")->capture_default_str();
    sub->add_option("--schedule", f.schedule, "constant, cosine or step")->capture_default_str();
    sub->add_option("--seed", f.t.seed, "seed for initialisation, shuffling, dropout and noise")->capture_default_str();
    sub->add_option("--lb-weight", f.t.lb_weight, "Switch load-balancing loss weight")->capture_default_str();
    sub->add_option("--z-weight", f.t.z_weight, "router z-loss weight")->capture_default_str();
    sub->add_option("--lb-convention", f.lb_convention,
                    "which picks count in the load-balancing loss for top-k > 1: top1 (Switch, GShard) or all-picks "
                    "(MegaBlocks, Mixtral)")->capture_default_str();
    sub->add_option("--train-limit", f.train_limit, "use only the first N training samples");
    sub->add_option("--test-limit", f.test_limit, "use only the first N test samples");
    sub->add_option("--threads", f.threads, "OpenMP threads (results do not depend on it)");
    sub->add_option("--stop-after", f.stop_after, "stop after this many epochs (resume later with --resume)");
    sub->add_flag("--resume", f.resume, "continue from OUT/model.ckpt");
    sub->add_flag("--force", f.force, "replace the run already in OUT (without it, train refuses to overwrite one)");
    sub->add_option("--parallel", f.parallel, "none, or data: under mpirun -np N, split each batch over the N processes")
        ->capture_default_str();
    sub->add_option("--micro-shards", f.t.micro_shards,
                    "cut each batch into S micro-shards (weights depend on S, not on the number of processes; "
                    "S must be a multiple of it)")
        ->capture_default_str();
    sub->callback([flags, config_path, sub, &exit_code] {
        if (!config_path->empty()) apply_config_file(*sub, *config_path);
        run_train(*flags);
        exit_code = 0;
    });
}

}  // namespace moelab::cli
