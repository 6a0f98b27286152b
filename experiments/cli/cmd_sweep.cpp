// moelab sweep: a grid of runs (configs x seeds, each trained, attacked and certified as its stages say;
// the grid format is in experiments/sweep/sweep_grid.hpp) split over MPI ranks, merged into one CSV.
//
//   mpirun -np N moelab sweep --grid grid.json --out DIR     (or without mpirun: one process does all)
//
// Run i (grid order) belongs to rank i mod N. It is made in DIR/runs/.NNNN.tmp and renamed to DIR/runs/NNNN
// when all its stages are done, so a run folder is complete or absent; a restarted sweep skips the runs
// whose folder exists (after checking that its run.json is this grid's run) and redoes the others. Once
// every rank is done, rank 0 reads each run's result.json in grid order and writes DIR/results.csv
// atomically: the same bytes for any N and any --threads (sweep_run.hpp says why).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/atomic_file.hpp"
#include "engine/parallel.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/io/config_keys.hpp"
#include "experiments/cli/threads_flag.hpp"
#include "experiments/cluster/mpi_session.hpp"
#include "experiments/sweep/sweep_run.hpp"

namespace moelab::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct SweepFlags {
    std::string grid, out;
    int threads = kThreadsUnset;
};

std::string run_name(std::int64_t index, std::size_t runs) {
    const std::string digits = std::to_string(index), widest = std::to_string(runs > 0 ? runs - 1 : 0);
    const std::size_t width = std::max<std::size_t>(4, widest.size());
    return std::string(width - std::min(width, digits.size()), '0') + digits;
}

std::string csv_cell(const json& v) {
    const std::string s = v.is_string() ? v.get<std::string>() : v.dump();
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string quoted = "\"";
    for (char c : s) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

DataSplits load_grid_data(const SweepGrid& grid) {
    try {
        return load_data(grid.data, grid.train_limit, grid.test_limit);
    } catch (const std::exception& e) {   // every rank reads the same data: a uniform input error
        throw std::invalid_argument(grid.path + ": data: " + user_message(e));
    }
}

// Folders of an earlier sweep into the same DIR must hold this grid's runs. Every rank checks every run,
// so a mismatch is reported alike by all.
void check_finished_runs(const SweepGrid& grid, const fs::path& runs_dir) {
    for (const SweepRun& r : grid.runs) {
        const fs::path dir = runs_dir / run_name(r.index, grid.runs.size());
        if (!fs::exists(dir)) continue;
        json saved;
        try {
            saved = json::parse(read_file((dir / "run.json").string()));
        } catch (const std::exception&) {
            saved = nullptr;
        }
        if (saved != run_identity(grid, r))
            throw std::invalid_argument(dir.string() + ": holds a run of another grid (its run.json differs from run " +
                                        std::to_string(r.index) + " of " + grid.path + "); use a new --out or remove it");
    }
}

void merge_results(const SweepGrid& grid, const fs::path& out, const fs::path& runs_dir) {
    std::string csv = "run";
    for (const auto& k : grid.vary_keys) csv += "," + k;
    csv += ",seed";
    const std::vector<std::string> columns = stage_columns(grid);
    for (const auto& c : columns) csv += "," + c;
    csv += "\n";
    for (const SweepRun& r : grid.runs) {
        const fs::path file = runs_dir / run_name(r.index, grid.runs.size()) / "result.json";
        json result;
        try {
            result = json::parse(read_file(file.string()));
        } catch (const json::exception& e) {
            throw std::runtime_error(file.string() + ": not valid JSON (" + e.what() + "); remove the run's folder to run it again");
        }
        if (result.at("columns").get<std::vector<std::string>>() != columns)
            throw std::runtime_error(file.string() + ": columns differ from the grid's stages");
        csv += std::to_string(r.index);
        // Appended piece by piece: `"," + string` inlined here trips GCC 12's false -Wrestrict (PR 105651).
        for (const auto& k : grid.vary_keys) csv.append(",").append(csv_cell(r.vary.at(k)));
        csv.append(",").append(std::to_string(r.seed));
        for (const auto& v : result.at("values")) csv.append(",").append(csv_cell(v));
        csv += "\n";
    }
    write_file_atomic((out / "results.csv").string(), csv);
}

void run(const SweepFlags& f) {
    apply_threads_flag(f.threads);
    if (mpi::launched_ranks() > 1 && !mpi::compiled_in())
        throw std::invalid_argument("sweep: launched as " + std::to_string(mpi::launched_ranks()) +
                                    " processes, but this moelab was built without MPI: each would run the whole grid "
                                    "(run it as one process, or see moelab info)");
    SweepGrid grid = read_sweep_grid(f.grid);
    const DataSplits data = load_grid_data(grid);
    for (SweepRun& r : grid.runs) {
        r.model.input_dim = data.train.dim();
        r.model.classes = data.train.num_classes;
    }
    for (const SweepRun& r : grid.runs)   // one run per config (its first seed): the seed changes no shape
        if (r.seed == grid.runs.front().seed) check_stages(grid, r, data.images);

    const int rank = mpi::rank(), ranks = mpi::size();
    const fs::path out(f.out), runs_dir = out / "runs";
    if (rank == 0) fs::create_directories(runs_dir);
    mpi::barrier();
    check_finished_runs(grid, runs_dir);

    long long failed = 0, made = 0, skipped = 0;
    for (std::size_t i = static_cast<std::size_t>(rank); i < grid.runs.size(); i += static_cast<std::size_t>(ranks)) {
        const SweepRun& r = grid.runs[i];
        const std::string name = run_name(r.index, grid.runs.size());
        const fs::path final_dir = runs_dir / name, tmp = runs_dir / ("." + name + ".tmp");
        if (fs::exists(final_dir)) {
            std::fprintf(stderr, "run %s: finished before, skipped\n", name.c_str());
            ++skipped;
            continue;
        }
        fs::remove_all(tmp);   // left by a sweep killed during this run
        fs::create_directories(tmp);
        try {
            const RunRow row = run_stages(grid, r, data, tmp.string());
            fs::rename(tmp, final_dir);
            std::string note;
            for (std::size_t c = 0; c < row.columns.size(); ++c) note += " " + row.columns[c] + " " + row.values[c];
            std::fprintf(stderr, "run %s %s seed %llu (rank %d):%s\n", name.c_str(), r.vary.dump().c_str(),
                         static_cast<unsigned long long>(r.seed), rank, note.c_str());
            ++made;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "moelab: sweep: run %s failed: %s\n", name.c_str(), user_message(e).c_str());
            fs::remove_all(tmp);
            ++failed;
        }
    }
    // Waits for every rank: afterwards all runs are done or failed.
    const long long failed_total = mpi::sum_over_ranks(failed);
    if (failed_total > 0)
        throw mpi::UniformError("sweep: " + std::to_string(failed_total) + " of " + std::to_string(grid.runs.size()) +
                                " runs failed (see above); the finished ones are kept: run the same command again to retry");
    const long long made_total = mpi::sum_over_ranks(made), skipped_total = mpi::sum_over_ranks(skipped);
    if (rank != 0) return;
    merge_results(grid, out, runs_dir);
    std::printf("sweep: %zu runs (%lld made, %lld finished before) on %d rank%s; wrote %s\n", grid.runs.size(), made_total,
                skipped_total, ranks, ranks == 1 ? "" : "s", (out / "results.csv").string().c_str());
}

}  // namespace

void add_sweep_command(CLI::App& app, int& exit_code) {
    auto f = std::make_shared<SweepFlags>();
    auto* sub = app.add_subcommand("sweep", "a grid of train/attack/certify runs, split over MPI ranks, merged into one CSV");
    sub->add_option("--grid", f->grid, "grid file (JSON; format in experiments/sweep/sweep_grid.hpp and README)")->required();
    sub->add_option("--out", f->out, "output directory: runs/NNNN/ per run and results.csv")->required();
    sub->add_option("--threads", f->threads, "OpenMP threads per rank (results do not depend on it)");
    sub->callback([f, &exit_code] {
        run(*f);
        exit_code = 0;
    });
}

}  // namespace moelab::cli
