// moelab bench: W8, certificates on softmax-gated MoEs (theory/bounds/linear_bounds.hpp). Fashion-MNIST
// layer-level MoEs (E = 4 top-1 and E = 8 top-2, softmax-topk gates, the CLI's default widths, 12 000 training
// images, 3 epochs, seed 1) and an MLP 784-32-32-32-10 (width 32, hidden 32, depth 1, the same training), the
// first N test images: per method (ibp, crown-ibp, crown, alpha-crown) the median certified radius / best attack
// distance over the correctly classified images (the three minimal-distance attacks of `moelab check`, without
// its routing attack; L-inf, domain [0, 1]) and the
// CPU seconds per image of the radius search at one thread. Timed alone, like W5 to W7.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

namespace moelab::bench {

struct LinearBenchOptions {
    std::int64_t images = 50;   // test images per model
};

// One record per (model, method) for out/bench.json: {"workload": "W8", "model", "method", "median_ratio",
// "median_radius", "cpu_s_per_image", ...}; prints a table. Empty (with a note) without the data set.
nlohmann::json run_linear_w8(const LinearBenchOptions& o);

}  // namespace moelab::bench
