// moelab engine: synthetic Gaussian-cluster data, the setting of P1's theory (docs/theory.md section 2):
// the data form clusters that a router can separate, and within each cluster the label follows a
// simple rule of its own, so one expert per cluster fits well.
//
// Generation, all from Rng(seed) by element counters (order- and thread-independent):
//   centre_k = separation * z_k,           z_k ~ N(0, I_d)         stream "clusters.centres"
//   sample i belongs to cluster i mod K;   x_i = centre + noise * N(0, I_d)   stream "clusters.samples"
//   u_{k,c} ~ N(0, I_d), one direction per cluster and class,       stream "clusters.directions"
//   label y_i = argmax_c <u_{k,c}, x_i - centre_k>  (ties to the lower class)
#pragma once

#include <cstdint>
#include <string>

#include "engine/dataset.hpp"

namespace moelab {

struct ClusterSpec {
    int clusters = 8;          // K
    int dim = 16;              // d
    int classes = 2;           // C
    std::int64_t samples = 2000;
    double separation = 4.0;
    double noise = 1.0;
    std::uint64_t seed = 1;
};

Dataset make_clusters(const ClusterSpec& spec);

// Parses "clusters:K=8,d=16,C=2,n=2000,sep=4,noise=1,seed=1" (any subset of keys; "clusters" and
// the colon are optional). Throws ConfigError{"data", why, "clusters"} naming the cluster key on anything else.
ClusterSpec parse_cluster_spec(const std::string& text);

}  // namespace moelab
