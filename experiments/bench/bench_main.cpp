// moelab_bench: times the workloads of docs/performance.md for moelab, for the raw GEMMs they contain,
// and for PyTorch float64 on the same work, and writes out/bench.json, out/bench.csv and a PNG chart.
//
// How it times, so that the numbers can be trusted on a shared, noisy machine:
//  - every (workload, threads) cell is measured in fresh worker processes (this binary with --worker,
//    and torch_peer.py), so each side's peak RSS is its own, and threads are fixed before start-up
//    (OMP_NUM_THREADS and OPENBLAS_NUM_THREADS for the peer too: docs/performance.md);
//  - moelab and PyTorch alternate, round after round; medians over all timed repetitions;
//  - inside the moelab worker, each timed run is followed by a replay of the GEMM calls that run made
//    (recorded by engine/blas.hpp), through raw cblas_dgemm on the same shapes and transposes, at the
//    same thread count (or one thread, when that is faster): the GEMM floor of that very run.
#include <cblas.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.hpp"
#include "engine/blas.hpp"
#include "engine/npz.hpp"
#include "engine/parallel.hpp"
#include "experiments/bench/exact.hpp"
#include "experiments/bench/linear_bounds.hpp"
#include "experiments/io/program_run.hpp"
#include "experiments/bench/scaling.hpp"
#include "experiments/bench/workloads.hpp"
#include "experiments/io/config_keys.hpp"
#include "theory/exact/milp_backend.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace moelab;
using namespace moelab::bench;
using moelab::cli::user_message;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// CPU time of the whole process (all threads), ms: at one thread it leaves out the time the worker
// spends descheduled on a loaded machine, so A/B comparisons of one workload are steadier.
double process_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double peak_rss_mb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;   // ru_maxrss is in KiB on Linux
}

// Replays recorded gemm() calls with whole-matrix cblas_dgemm calls of the same shapes and transposes.
// Each call gets its own operand buffers (allocated once, kept across repetitions), as the workload's
// products have distinct operands: replaying every call on one small scratch set would keep the operands
// hot in cache and make the floor faster than any framework could be.
class GemmReplay {
public:
    double run(const std::vector<GemmCall>& calls) {
        if (buffers_.size() < calls.size()) buffers_.resize(calls.size());
        for (std::size_t i = 0; i < calls.size(); ++i) {
            const GemmCall& c = calls[i];
            Operands& o = buffers_[i];
            const std::size_t a = static_cast<std::size_t>((c.trans_a ? c.K : c.M) * c.lda);
            const std::size_t b = static_cast<std::size_t>((c.trans_b ? c.N : c.K) * c.ldb);
            const std::size_t cc = static_cast<std::size_t>(c.M * c.ldc);
            if (o.a.size() < a) o.a.assign(a, 0.5);
            if (o.b.size() < b) o.b.assign(b, 0.25);
            if (o.c.size() < cc) o.c.assign(cc, 0.0);
        }
        const auto t0 = Clock::now();
        for (std::size_t i = 0; i < calls.size(); ++i) {
            const GemmCall& c = calls[i];
            Operands& o = buffers_[i];
            cblas_dgemm(CblasRowMajor, c.trans_a ? CblasTrans : CblasNoTrans, c.trans_b ? CblasTrans : CblasNoTrans,
                        static_cast<blasint>(c.M), static_cast<blasint>(c.N), static_cast<blasint>(c.K), 1.0,
                        o.a.data(), static_cast<blasint>(c.lda), o.b.data(), static_cast<blasint>(c.ldb), c.beta,
                        o.c.data(), static_cast<blasint>(c.ldc));
        }
        return ms_since(t0);
    }

private:
    struct Operands {
        std::vector<double> a, b, c;
    };
    std::vector<Operands> buffers_;
};

// --worker: one moelab measurement, printed as one JSON line on stdout.
int run_worker(const std::string& id, int threads, int warmup, int reps, const std::string& data_path, bool floor,
               bool list_gemms) {
    set_threads(threads);
    const BenchData data = bench_data_from_named(read_npz(data_path), data_path);
    Workload w = make_workload(id, data);
    for (int i = 0; i < warmup; ++i) w.run();
    GemmReplay replay;
    std::vector<double> ms, cpu_ms, gemm_ms;
    double gflop = 0.0, workload_rss = 0.0;
    std::size_t calls_per_run = 0;
    for (int r = 0; r < reps; ++r) {
        std::vector<GemmCall> calls;
        record_gemm_calls(&calls);
        const auto t0 = Clock::now();
        const double c0 = process_cpu_ms();
        w.run();
        ms.push_back(ms_since(t0));
        cpu_ms.push_back(process_cpu_ms() - c0);
        record_gemm_calls(nullptr);
        if (r == 0) workload_rss = peak_rss_mb();   // before any replay buffer exists
        if (list_gemms && r == 0)
            for (const auto& c : calls)
                std::cerr << "gemm " << (c.trans_a ? 'T' : 'N') << (c.trans_b ? 'T' : 'N') << " M=" << c.M << " N=" << c.N
                          << " K=" << c.K << " beta=" << c.beta << "\n";
        if (!floor) continue;
        // The floor: the faster of raw OpenBLAS on one thread and on `threads` threads (its own threading
        // loses on small shapes, and would make a floor that moelab could beat).
        double floor_ms = replay.run(calls);
        if (threads > 1) {
            openblas_set_num_threads(threads);
            floor_ms = std::min(floor_ms, replay.run(calls));
            pin_blas_single_threaded();
        }
        gemm_ms.push_back(floor_ms);
        calls_per_run = calls.size();
        gflop = 0.0;
        for (const auto& c : calls) gflop += c.flops() * 1e-9;
    }
    json out{{"workload", id}, {"threads", threads}, {"ms", ms}, {"cpu_ms", cpu_ms}, {"gemm_ms", gemm_ms},
             {"peak_rss_mb", workload_rss}, {"gemm_calls", calls_per_run}, {"gemm_gflop", gflop},
             {"result_hash", std::to_string(w.result_hash())}, {"what", w.what}};
    std::cout << out.dump() << std::endl;
    return 0;
}

// Runs a program from its argument vector and parses the last line of its stdout as JSON; null on failure.
json run_json(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    std::string text, last;
    const int rc = cli::run_program(argv, {.captured_stdout = &text, .env = env});
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty()) last = line;
    if (rc != 0 || last.empty()) return nullptr;
    try {
        return json::parse(last);
    } catch (const json::exception&) {
        return nullptr;
    }
}

std::string find_torch_python(const std::string& script) {
    if (!fs::exists(script)) return "";
    for (const char* py : {"/usr/bin/python3", "python3"}) {
        std::string ignored;
        if (cli::run_program({py, "-c", "import torch"}, {.stderr_path = "/dev/null", .captured_stdout = &ignored}) == 0) return py;
    }
    return "";
}

std::string fmt(double v, int prec = 2) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", prec, v);
    return b;
}

void write_chart(const std::string& csv, const std::string& png) {
    // The paths reach gnuplot as its ARG1 and ARG2 (call-style arguments), never inside a command string.
    const int rc = cli::run_program({"gnuplot", "-c", "figures/bench.gp", csv, png});
    if (rc == -1) std::cerr << "bench: gnuplot could not be started; skipped " << png << "\n";
    else if (rc != 0) std::cerr << "bench: gnuplot failed on figures/bench.gp\n";
}

// What every worker run of the driver shares.
struct DriverSetup {
    fs::path out_dir;
    std::string self, python, torch_script, data_path;
    int rounds = 1, warmup = 0, reps = 1;
};

// One workload at one thread count over all rounds: times, memory and result bits of moelab and PyTorch.
struct CellRuns {
    std::vector<double> ms, gemm_ms, torch_ms;
    std::vector<double> round_ratio;   // PyTorch / moelab within each round: robust to slow drift of the machine
    double rss = 0.0, torch_rss = 0.0, gflop = 0.0;
    std::string what, hash;
    bool hashes_agree = true;
};

// False when the moelab worker failed.
bool run_cell(const DriverSetup& d, const std::string& id, int t, CellRuns& c) {
    const std::string threads = std::to_string(t);
    const std::vector<std::string> env{"OMP_NUM_THREADS=" + threads, "OPENBLAS_NUM_THREADS=" + threads,
                                       "MKL_NUM_THREADS=" + threads};
    const std::vector<std::string> args{"--workload", id, "--threads", threads, "--warmup", std::to_string(d.warmup),
                                        "--reps", std::to_string(d.reps), "--data", d.data_path};
    auto with = [&args](std::vector<std::string> head, const std::vector<std::string>& tail) {
        head.insert(head.end(), args.begin(), args.end());
        head.insert(head.end(), tail.begin(), tail.end());
        return head;
    };
    for (int r = 0; r < d.rounds; ++r) {
        const json m = run_json(with({d.self, "--worker"}, {}), env);
        if (m.is_null()) {
            std::cerr << "bench: the moelab worker for " << id << " at " << t << " threads failed\n";
            return false;
        }
        for (double v : m["ms"]) c.ms.push_back(v);
        for (double v : m["gemm_ms"]) c.gemm_ms.push_back(v);
        c.rss = std::max(c.rss, m["peak_rss_mb"].get<double>());
        c.gflop = m["gemm_gflop"];
        c.what = m["what"];
        const std::string h = m["result_hash"];
        if (!c.hash.empty() && h != c.hash) c.hashes_agree = false;
        c.hash = h;
        if (d.python.empty()) continue;
        const json tm = run_json(with({d.python, d.torch_script}, {"--init", (d.out_dir / "bench" / (id + "-init.npz")).string()}), env);
        if (tm.is_null()) {
            std::cerr << "bench: the PyTorch worker for " << id << " failed\n";
        } else {
            for (double v : tm["ms"]) c.torch_ms.push_back(v);
            c.torch_rss = std::max(c.torch_rss, tm["peak_rss_mb"].get<double>());
            c.round_ratio.push_back(median(tm["ms"].get<std::vector<double>>()) / median(m["ms"].get<std::vector<double>>()));
        }
    }
    return true;
}

// The cell's JSON record, its table line on stdout and its CSV row.
json report_cell(const std::string& id, int t, const CellRuns& c, bool same_bits, std::ostringstream& csv) {
    const double m_ms = median(c.ms), g_ms = median(c.gemm_ms);
    json rec{{"workload", id}, {"what", c.what}, {"threads", t}, {"moelab_ms", m_ms}, {"gemm_ms", g_ms},
             {"moelab_over_gemm", m_ms / g_ms}, {"peak_rss_mb", c.rss}, {"gemm_gflop", c.gflop},
             {"samples", c.ms.size()}, {"result_hash", c.hash}, {"bits_equal_across_runs_and_threads", same_bits}};
    std::string torch_col = "-", ratio_col = "-", torch_rss_col = "-", ratio_range = "-";
    if (!c.torch_ms.empty()) {
        const double t_ms = median(c.torch_ms);
        rec["torch_ms"] = t_ms;
        rec["torch_over_moelab"] = t_ms / m_ms;
        rec["torch_over_moelab_per_round"] = c.round_ratio;
        rec["torch_peak_rss_mb"] = c.torch_rss;
        torch_col = fmt(t_ms);
        ratio_col = fmt(t_ms / m_ms);
        if (!c.round_ratio.empty()) {
            const auto [lo, hi] = std::minmax_element(c.round_ratio.begin(), c.round_ratio.end());
            ratio_range = fmt(*lo) + "-" + fmt(*hi);
        }
        torch_rss_col = fmt(c.torch_rss, 0);
    } else {
        rec["torch_ms"] = nullptr;
    }
    std::printf("%-4s %3d %11.2f %9.2f %8.2f %10s %9s %11s %9.0f %9s  %s\n", id.c_str(), t, m_ms, g_ms, m_ms / g_ms,
                torch_col.c_str(), ratio_col.c_str(), ratio_range.c_str(), c.rss, torch_rss_col.c_str(),
                same_bits ? "same" : "DIFFER");
    std::fflush(stdout);
    csv << id << "," << t << "," << m_ms << "," << g_ms << "," << (c.torch_ms.empty() ? "" : fmt(median(c.torch_ms), 4))
        << "," << m_ms / g_ms << "," << (c.torch_ms.empty() ? "" : fmt(median(c.torch_ms) / m_ms, 4)) << "," << c.rss
        << "," << (c.torch_ms.empty() ? "" : fmt(c.torch_rss, 1)) << "\n";
    return rec;
}

// The scaling workloads, timed alone in this process (scaling.hpp, exact.hpp).
const std::vector<std::string>& scaling_ids() {
    static const std::vector<std::string> ids{"W5", "W6", "W7", "W8"};
    return ids;
}

bool is_scaling(const std::string& id) {
    return std::find(scaling_ids().begin(), scaling_ids().end(), id) != scaling_ids().end();
}

int run_driver(const std::string& out_path, const std::vector<std::string>& all_ids, const std::vector<int>& threads,
               int rounds, int warmup, int reps, const std::string& torch_script, const ExactBenchOptions& exact,
               const LinearBenchOptions& linear) {
    std::vector<std::string> ids, scaling;   // timed against the peer / timed alone
    for (const auto& id : all_ids) (is_scaling(id) ? scaling : ids).push_back(id);
    DriverSetup d;
    d.out_dir = fs::path(out_path).parent_path().empty() ? fs::path(".") : fs::path(out_path).parent_path();
    fs::create_directories(d.out_dir / "bench");
    d.data_path = (d.out_dir / "bench" / "data.npz").string();
    const BenchData data = make_bench_data();
    write_npz(d.data_path, to_named(data));
    for (const auto& id : ids) write_npz((d.out_dir / "bench" / (id + "-init.npz")).string(), make_workload(id, data).initial_weights);

    d.python = find_torch_python(torch_script);
    d.torch_script = torch_script;
    d.rounds = rounds;
    d.warmup = warmup;
    d.reps = reps;
    std::cerr << "bench: data " << data.source << "; PyTorch peer: "
              << (d.python.empty() ? "absent (torch_ms will be null)" : d.python + " " + torch_script) << "\n";
    d.self = fs::read_symlink("/proc/self/exe").string();

    json records = json::array();
    std::ostringstream csv;
    csv << "workload,threads,moelab_ms,gemm_ms,torch_ms,moelab_over_gemm,torch_over_moelab,peak_rss_mb,torch_peak_rss_mb\n";
    std::printf("%-4s %3s %11s %9s %8s %10s %9s %11s %9s %9s  %s\n", "work", "thr", "moelab_ms", "gemm_ms", "x_gemm",
                "torch_ms", "x_faster", "per_round", "rss_MB", "torchMB", "bits");
    std::map<std::string, std::string> hash_at_1_thread;
    for (const auto& id : ids) {
        for (int t : threads) {
            CellRuns c;
            if (!run_cell(d, id, t, c)) return 1;
            if (t == threads.front()) hash_at_1_thread[id] = c.hash;
            const bool same_bits = c.hashes_agree && c.hash == hash_at_1_thread[id];
            records.push_back(report_cell(id, t, c, same_bits, csv));
        }
    }
    for (auto& r : run_scaling(data, 1, scaling)) records.push_back(r);
    if (std::find(scaling.begin(), scaling.end(), "W7") != scaling.end())
        for (auto& r : run_exact_w7(exact)) records.push_back(r);
    if (std::find(scaling.begin(), scaling.end(), "W8") != scaling.end())
        for (auto& r : run_linear_w8(linear)) records.push_back(r);
    write_file_atomic(out_path, records.dump(2) + "\n");
    const std::string csv_path = (fs::path(out_path).replace_extension(".csv")).string();
    const std::string png_path = (fs::path(out_path).replace_extension(".png")).string();
    write_file_atomic(csv_path, csv.str());
    if (!ids.empty()) write_chart(csv_path, png_path);
    std::printf("bench: wrote %s, %s and %s (medians of %d rounds x %d reps; x_gemm = moelab / raw GEMM time, "
                "x_faster = PyTorch / moelab, per_round = its range over the rounds)\n",
                out_path.c_str(), csv_path.c_str(), png_path.c_str(), rounds, reps);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"moelab_bench: the docs/performance.md workloads, moelab vs raw GEMM vs PyTorch float64"};
    std::string out = "out/bench.json", workload, data, torch_script = "experiments/bench/torch_peer.py";
    std::vector<std::string> ids = workload_ids();
    ids.insert(ids.end(), scaling_ids().begin(), scaling_ids().end());
    ExactBenchOptions exact;
    LinearBenchOptions linear;
    std::vector<int> threads{1, 2};
    int rounds = 5, warmup = 3, reps = 5, worker_threads = 1;
    bool worker = false, no_scaling = false, no_floor = false, list_gemms = false;
    app.add_option("--out", out, "JSON results; .csv and .png beside it");
    app.add_option("--workloads", ids, "which workloads (default: all)")->delimiter(',');
    app.add_option("--thread-counts", threads, "thread counts to time")->delimiter(',')->check(CLI::Range(1, 256));
    app.add_option("--rounds", rounds, "alternating moelab/PyTorch rounds")->check(CLI::Range(1, 100));
    app.add_option("--warmup", warmup, "untimed runs per worker")->check(CLI::Range(0, 1000));
    app.add_option("--reps", reps, "timed runs per worker and round")->check(CLI::Range(1, 10000));
    app.add_option("--torch-script", torch_script, "the PyTorch peer");
    app.add_flag("--no-scaling", no_scaling, "skip W5 (certification), W6 and W7 (exact MILP) and W8 (linear bounds) scaling runs");
    app.add_option("--w7-images", exact.images, "W7: test images per model")->check(CLI::Range(1, 10000));
    app.add_option("--w8-images", linear.images, "W8: test images per model")->check(CLI::Range(1, 10000));
    app.add_option("--milp-solver", exact.milp_solver, "W7: the MILP solver, glpk or cbc (default: the library's)");
    app.add_flag("--worker", worker, "internal: one moelab measurement");
    app.add_option("--workload", workload, "internal: the worker's workload");
    app.add_flag("--list-gemms", list_gemms, "worker: print the GEMM calls of one run to stderr");
    app.add_flag("--no-floor", no_floor, "worker: skip the GEMM replay (for profiling moelab alone with perf)");
    app.add_option("--threads", worker_threads, "internal: the worker's threads")->check(CLI::Range(1, 256));
    app.add_option("--data", data, "internal: the worker's data .npz");
    CLI11_PARSE(app, argc, argv);
    try {
        if (worker) return run_worker(workload, worker_threads, warmup, reps, data, !no_floor, list_gemms);
        for (const auto& id : ids)   // validate the ids before any work
            if (std::find(workload_ids().begin(), workload_ids().end(), id) == workload_ids().end() && !is_scaling(id))
                throw std::invalid_argument("--workloads: unknown workload '" + id + "' (expected W1 to W8)");
        if (!exact.milp_solver.empty()) (void)parse_milp_backend(exact.milp_solver);   // refuse a bad name before any work
        if (no_scaling) std::erase_if(ids, is_scaling);
        return run_driver(out, ids, threads, rounds, warmup, reps, torch_script, exact, linear);
    } catch (const std::exception& e) {
        std::cerr << "moelab_bench: " << user_message(e) << "\n";
        return 1;
    }
}
