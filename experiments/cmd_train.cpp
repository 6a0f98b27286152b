// moelab train: train an MoE or dense classifier deterministically; checkpoint every epoch.
//
// Writes DIR/model.ckpt (parameters, optimizer state, configs, history), DIR/model.npz (parameters,
// for NumPy/PyTorch) and DIR/metrics.json (test_accuracy and per-epoch entries), each atomically.
// --resume continues from DIR/model.ckpt, which must come from the same flags (only --epochs and
// --stop-after may differ); the result is bitwise identical to an uninterrupted run.
//
// Data parallelism: `mpirun -np N moelab train --parallel data --micro-shards S ...` cuts each batch into
// S micro-shards (moe/train.hpp), S / N per process, and every process adds all S shard gradients in shard
// order (experiments/mpi_session.hpp). The weights equal those of a one-process run with the same
// --micro-shards, whatever N. Rank 0 alone writes the files.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "engine/npz.hpp"
#include "engine/parallel.hpp"
#include "experiments/commands.hpp"
#include "experiments/data_spec.hpp"
#include "experiments/json_config.hpp"
#include "experiments/mpi_session.hpp"
#include "experiments/progress.hpp"
#include "moe/model_io.hpp"

namespace moelab::cli {

namespace {

struct TrainFlags {
    std::string data = "fashion-mnist", model = "moe", gate = "softmax-topk", optimizer = "adam",
                lb_convention = "all-picks", router = "learned", match = "",
                parallel = "none", out;
    ModelConfig m;
    TrainConfig t;
    std::int64_t train_limit = -1, test_limit = -1;
    int threads = 0, stop_after = 0;
    bool resume = false;
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

void run_train(TrainFlags& f) {
    if (f.threads < 0) throw std::invalid_argument("--threads: must be >= 1, got " + std::to_string(f.threads));
    if (f.threads > 0) set_threads(f.threads);
    f.m.kind = parse_model_kind(f.model);
    f.m.gate = parse_gate_mode(f.gate);
    f.m.router = parse_router_training(f.router);
    f.t.optimizer.kind = parse_optimizer_kind(f.optimizer);
    f.t.lb_convention = parse_balance_convention(f.lb_convention);
    f.m.seed = f.t.seed;
    if (!f.match.empty()) {
        if (f.m.kind != ModelKind::mlp) throw std::invalid_argument("--match: only applies to --model mlp");
        ModelConfig moe = f.m;
        moe.kind = ModelKind::moe;
        f.m = dense_baseline(moe, f.match);
    }
    f.t.validate();
    const ShardExchange exchange = data_parallel_exchange(f);
    const bool writer = exchange.rank == 0;   // rank 0 alone writes files and shows progress
    const DataSplits data = load_data(f.data, f.train_limit, f.test_limit);
    f.m.input_dim = data.train.dim();
    f.m.classes = data.train.num_classes;
    f.m.validate();

    if (writer) std::filesystem::create_directories(f.out);
    const std::string ckpt = f.out + "/model.ckpt";
    std::unique_ptr<Classifier> model;
    TrainState state;
    std::unique_ptr<Optimizer> optimizer;
    if (f.resume) {
        SavedModel saved = load_model(ckpt);
        if (to_json(saved.model->config()) != to_json(f.m))
            throw std::invalid_argument("--resume: " + ckpt + " holds model " + to_json(saved.model->config()).dump() +
                                        ", the flags ask for " + to_json(f.m).dump());
        TrainConfig a = saved.train, b = f.t;
        a.epochs = b.epochs = 0;
        if (to_json(a) != to_json(b))
            throw std::invalid_argument("--resume: " + ckpt + " was trained with " + to_json(saved.train).dump() +
                                        ", the flags ask for " + to_json(f.t).dump());
        if (saved.data_spec != f.data)
            throw std::invalid_argument("--resume: " + ckpt + " was trained on '" + saved.data_spec + "', not '" +
                                        f.data + "'");
        model = std::move(saved.model);
        state = saved.state;
        optimizer = std::make_unique<Optimizer>(model->params(), f.t.optimizer);
        load_optimizer_state(saved, *optimizer, ckpt);
        if (writer)
            std::fprintf(stderr, "resuming %s after epoch %d (step %ld)\n", ckpt.c_str(), state.epochs_done, state.step);
    } else {
        model = std::make_unique<Classifier>(f.m);
        optimizer = std::make_unique<Optimizer>(model->params(), f.t.optimizer);
    }
    if (writer)
        std::fprintf(stderr, "training %s (%lld parameters) on %s: %lld train / %lld test samples, %d threads%s\n",
                     to_string(f.m.kind).c_str(), static_cast<long long>(model->params().numel()), f.data.c_str(),
                     static_cast<long long>(data.train.size()), static_cast<long long>(data.test.size()), max_threads(),
                     exchange.ranks > 1 ? (", " + std::to_string(exchange.ranks) + " MPI processes x " +
                                           std::to_string(f.t.micro_shards / exchange.ranks) + " micro-shards").c_str()
                                        : "");

    TrainConfig run_config = f.t;
    const int final_epochs = f.t.epochs;
    if (f.stop_after > 0 && f.stop_after < f.t.epochs) run_config.epochs = f.stop_after;
    std::unique_ptr<Progress> bar;
    TrainHooks hooks;
    hooks.exchange = exchange;
    hooks.on_step = [&](long s, long total, double loss) {
        if (!writer) return;
        if (s == 1) bar = std::make_unique<Progress>("epoch " + std::to_string(state.epochs_done + 1) + "/" +
                                                         std::to_string(final_epochs), total);
        std::ostringstream note;
        note.precision(4);
        note << "loss " << loss;
        bar->update(s, note.str());
    };
    hooks.on_epoch = [&](const TrainState& st, const Optimizer& opt) {
        if (!writer) return;
        const EpochMetrics& m = st.history.back();
        std::ostringstream note;
        note.precision(4);
        note << "loss " << m.train_loss << ", test accuracy " << m.test_accuracy;
        if (bar) bar->finish(note.str());
        // Same flags, the run's real target: a resumed run compares equal.
        TrainConfig saved_config = f.t;
        saved_config.epochs = final_epochs;
        save_model(ckpt, *model, &opt, saved_config, st, f.data);
        write_npz(f.out + "/model.npz", collect(model->params()));
        write_file_atomic(f.out + "/metrics.json", metrics_json(*model, st, f.data).dump(2) + "\n");
    };
    // The schedule is computed against the final epoch count even when stopping early.
    run_config.epochs = final_epochs;
    if (f.stop_after > 0 && f.stop_after < final_epochs) {
        TrainHooks stopping = hooks;
        stopping.on_epoch = [&](const TrainState& st, const Optimizer& opt) {
            hooks.on_epoch(st, opt);
            if (st.epochs_done >= f.stop_after) throw std::runtime_error("stop-after");
        };
        try {
            train(*model, *optimizer, data.train, data.test, run_config, state, stopping);
        } catch (const std::runtime_error& e) {
            if (std::string(e.what()) != "stop-after") throw;
            if (writer) std::fprintf(stderr, "stopped after epoch %d as asked; continue with --resume\n", state.epochs_done);
            return;
        }
    } else {
        train(*model, *optimizer, data.train, data.test, run_config, state, hooks);
    }
    if (!writer) return;
    const std::string warning = collapse_warning(state.history.back());
    if (!warning.empty()) std::fprintf(stderr, "%s\n", warning.c_str());
    if (exchange.ranks > 1) report_exchange(state, exchange, model->params().numel());
    std::printf("test_accuracy %.4f after %d epochs; wrote %s/{model.ckpt,model.npz,metrics.json}\n",
                state.history.back().test_accuracy, state.epochs_done, f.out.c_str());
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
    sub->add_option("--schedule", f.t.schedule, "constant, cosine or step")->capture_default_str();
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
