// moelab bench: the scaling workloads W5 (certified radii for test images on the W2 model, per method,
// against the number of samples) and W6 (exact minimal L-inf distance by MILP for a small MoE, per
// sample, against hidden width and number of experts). No PyTorch peer exists for these: they are timed
// alone and summarised by their growth exponent (slope of log time against log size).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/bench/workloads.hpp"

namespace moelab::bench {

// Records for out/bench.json (workload "W5"/"W6", threads, moelab_ms, torch_ms = null, gemm_ms = null,
// peak_rss_mb, and the size they were measured at); prints a table.
// Runs W5 and W6 when `ids` names them.
nlohmann::json run_scaling(const BenchData& data, int threads, const std::vector<std::string>& ids);

}  // namespace moelab::bench
