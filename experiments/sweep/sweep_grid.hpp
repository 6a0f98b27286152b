// The grid of `moelab sweep`: which runs to make, in which order. A grid file is one JSON object:
//
//   {
//     "data":    "clusters:K=4,d=8,n=800",             required: the --data of every run
//     "train_limit": 1000, "test_limit": 500,            optional: as train's --train-limit, --test-limit
//     "base":    {"kind": "moe", "experts": 4, "top_k": 1, "epochs": 3, "lr": 0.003},
//     "vary":    {"lr": [0.001, 0.003], "lb_weight": [0.0, 0.01]},
//     "seeds":   [1, 2],                                 optional, default [1]
//     "stages":  ["train", "attack", "certify"],         optional, default ["train"]
//     "attack":  {"attack": "pgd", "norm": "linf", "eps": 0.1, "steps": 10, "samples": 100},
//     "certify": {"method": "ibp", "norm": "linf", "samples": 100}
//   }
//
// "base" and "vary" take the keys of a checkpoint's "model" and "train" objects, read by the same parsers
// (model_config_from_json, train_config_from_json): kind, width, depth, hidden, experts, top_k, gate,
// noisy, capacity_factor, moe_blocks, dropout; epochs, batch_size, optimizer, lr, momentum, weight_decay,
// schedule, lb_weight, z_weight, lb_convention, micro_shards. Not input_dim or classes (the data sets them)
// nor seed (from "seeds"). Each "vary" key holds a non-empty list; the configs are the product of the lists.
// "stages" starts with "train" (attack and certify judge the trained model); "attack" and "certify" are
// given exactly when their stage is. "attack" keys: attack (required), norm, eps, steps, step_size,
// step_schedule, restarts, random_start, loss, target, eps_grid, overshoot, bisection_steps, top_k,
// swap_rank, batch_size, seed, samples (first N test samples, default 100): the flags of `moelab attack`.
// "certify" keys: method (required: lipschitz, naive, ibp, crown, crown-ibp, alpha-crown or smoothing), norm, samples (default
// 100), sigma, n: the flags of `moelab certify`.
//
// Grid order: configs in the order of the "vary" keys sorted by name, the last key varying fastest, and
// within a config the seeds in their listed order. Run i is config i / |seeds| with seed i % |seeds|.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/model.hpp"
#include "moe/train.hpp"
#include "theory/attacks/attack_harness.hpp"
#include "theory/bounds/certify_methods.hpp"

namespace moelab::cli {

struct SweepRun {
    std::int64_t index = 0;            // position in grid order
    nlohmann::json vary;               // this run's value of each "vary" key
    std::uint64_t seed = 1;
    ModelConfig model;                 // input_dim and classes still the defaults until the data is known
    TrainConfig train;
};

struct CertifySpec {
    CertifyMethod method = CertifyMethod::lipschitz;
    Norm norm = Norm::linf;
    std::int64_t samples = 100;
    double sigma = 0.25;               // smoothing
    std::int64_t n = 1000;             // smoothing
};

struct SweepGrid {
    std::string path;                  // the grid file, for messages
    std::string data;
    std::int64_t train_limit = -1, test_limit = -1;
    std::vector<std::string> vary_keys;   // sorted: the CSV's parameter columns
    std::vector<std::string> stages;
    bool attack = false, certify = false;
    AttackSpec attack_spec;            // domain still unset (the data tells)
    std::int64_t attack_samples = 100;
    CertifySpec certify_spec;
    nlohmann::json attack_json, certify_json;   // as given, to recognise a run's folder on restart
    std::vector<SweepRun> runs;        // in grid order
};

// Reads and checks `path`. Unknown keys, wrong types, empty lists and bad values throw
// std::invalid_argument "<path>: <key>: <what>" (for a bad value of a list, the key and its index).
SweepGrid read_sweep_grid(const std::string& path);

// What identifies run r in its folder (run.json): its configs, data and stage settings.
nlohmann::json run_identity(const SweepGrid& grid, const SweepRun& run);

}  // namespace moelab::cli
