// moelab bench: W7, the exact minimal L-inf distance (theory/exact/exact.hpp) at Fashion-MNIST size. A top-1
// model-level MoE (784 inputs, E experts 784 -> H -> 10, 2 epochs of Adam, trained here deterministically)
// and the first N test images, radius cap 0.3: seconds per sample (median, 90th percentile) and the fraction
// of samples proven optimal (seconds: CPU seconds of the one solving thread, steady on a shared machine; the
// wall-clock figures are recorded beside them), for H = 32 and 64 at E = 4 and for E = 2 and 8 at H = 32 (growth in width and
// in experts). Timed alone, like W5 and W6 (no PyTorch peer computes this).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace moelab::bench {

struct ExactBenchOptions {
    std::int64_t images = 20;          // test images per model
    std::string milp_solver;           // theory/exact/milp_backend.hpp name; empty: the default back-end
};

// One record per (hidden, experts) for out/bench.json: {"workload": "W7", "hidden", "experts", "median_s",
// "p90_s", "optimal_fraction", ...}; prints a table. An empty array (and a note on stderr) without the
// Fashion-MNIST data set.
nlohmann::json run_exact_w7(const ExactBenchOptions& o);

}  // namespace moelab::bench
