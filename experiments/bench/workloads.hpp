// moelab bench: moelab's side of the benchmark workloads of docs/performance.md.
//
// A workload is one timed unit of work (a training step, an inference pass) on fixed data. The data
// and the initial weights are written to .npz files so that the PyTorch peer (torch_peer.py) runs the
// very same work: same inputs, same weights, hence the same routing and the same expert batch sizes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/checkpoint.hpp"
#include "engine/tensor.hpp"

namespace moelab::bench {

struct BenchData {
    Tensor train_x;              // [128, 784]: the training batch of W1 and W2
    std::vector<int> train_y;
    Tensor test_x;               // [10000, 784]: the inference set of W4; its first 256 rows are W3's batch
    std::vector<int> test_y;
    std::string source;          // "fashion-mnist" or "uniform-random" (when the Debian data is absent)
};

// The first 128 training and 10 000 test images of Fashion-MNIST, or uniform random pixels (and labels
// i mod 10) from a fixed seed when the data set is not installed.
BenchData make_bench_data();
std::vector<NamedTensor> to_named(const BenchData& data);
BenchData bench_data_from_named(const std::vector<NamedTensor>& tensors, const std::string& path);

struct Workload {
    std::string id;              // "W1", "W2", "W3", "W4"
    std::string what;            // one line for the table
    std::function<void()> run;   // one timed unit
    // Bits of the workload's state after the runs so far (weights or outputs): equal across thread
    // counts when moelab is deterministic.
    std::function<std::uint64_t()> result_hash;
    std::vector<NamedTensor> initial_weights;   // for the peer
};

const std::vector<std::string>& workload_ids();
// Throws std::invalid_argument naming the id when it is unknown.
Workload make_workload(const std::string& id, const BenchData& data);

}  // namespace moelab::bench
