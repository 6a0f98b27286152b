// The --data flag: which data set a command trains or evaluates on.
//   fashion-mnist            Debian's dataset-fashion-mnist (60 000 train / 10 000 test, 784 pixels in [0,1])
//   clusters:K=8,d=16,...    synthetic Gaussian clusters (engine/clusters.hpp); the test split is a further
//                            n/4 samples from the same clusters
#pragma once

#include <cstdint>
#include <string>

#include "engine/dataset.hpp"

namespace moelab::cli {

struct DataSplits {
    Dataset train, test;
    bool images = false;   // 28x28 images (the OOD transforms apply)
};

// Throws std::invalid_argument naming --data on an unknown spec, std::runtime_error naming the file on
// unreadable data. limits < 0 keep everything.
DataSplits load_data(const std::string& spec, std::int64_t train_limit = -1, std::int64_t test_limit = -1);

}  // namespace moelab::cli
