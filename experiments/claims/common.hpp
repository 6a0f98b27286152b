// What the claim drivers (cNN_*.cpp, listed in drivers.hpp) share: number
// formatting, figures, the cache of trained models under OUT/models/, the Fashion-MNIST MoE and its dense
// baseline, and the statistics the verdict rules use. Internal to experiments/.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/claims/claims.hpp"
#include "experiments/io/data_spec.hpp"
#include "moe/train.hpp"

namespace moelab::cli {

std::string num(double v, int prec = 4);
// Runs figures/<script> with dir set (skipped without gnuplot; a failure is reported, not fatal).
void plot(const std::string& script, const std::string& dir);
// OUT from OUT/claims/<id>.
std::string root_of(const std::string& dir);
// A training-set size for a card or budget: "all 60000" for a limit below 0 (no limit), else the number.
std::string training_images(std::int64_t limit);

// Trains (or loads, when OUT/models/<name>/model.ckpt holds this model config, train config, data spec and recipe)
// a classifier. `recipe` names how the step loss differs from plain training ("" for plain); it is stored beside
// the checkpoint in recipe.json and must match for the cache to be used. `hooks` carries the step loss.
std::unique_ptr<Classifier> trained(const std::string& root, const std::string& name, const ModelConfig& mc,
                                    const TrainConfig& tc, const std::string& spec, const DataSplits& data,
                                    const nlohmann::json& recipe = nlohmann::json(), const TrainHooks& hooks = {});
// The cache test of `trained`, for drivers that train several models together (JTDMoE).
std::unique_ptr<Classifier> cached(const std::string& root, const std::string& name, const ModelConfig& mc,
                                   const TrainConfig& tc, const std::string& spec, const nlohmann::json& recipe);
// Saves a model trained by the caller into the cache, with its recipe.
void store(const std::string& root, const std::string& name, const Classifier& model, const Optimizer& opt,
           const TrainConfig& tc, const TrainState& state, const std::string& spec, const nlohmann::json& recipe);

struct FashionModels {
    DataSplits data;
    std::unique_ptr<Classifier> moe, dense;
};
// The layer-level MoE (E=8, k=2, experts 128-256-128) and the dense MLP of equal active compute on Fashion-MNIST
// (cached per seed as fashion-moe-s<seed>, fashion-dense-s<seed>, initialised and shuffled from the seed).
ModelConfig fashion_moe_config();
TrainConfig fashion_train_config(const ReproProfile& p);
FashionModels fashion_models(const std::string& root, const ReproProfile& p, std::uint64_t seed);

// A cache name per seed: "<name>-s<seed>".
std::string seeded(const std::string& name, std::uint64_t seed);
// "<name>: <usage_line>" of an MoE's expert usage on x; "<name>: dense (no router)" otherwise.
std::string usage_of(const std::string& name, const Classifier& model, const Tensor& x);

// Spearman's rank correlation (average ranks for ties) of two equally long samples; NaN when undefined.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

// Paired comparison of two per-sample 0/1 outcomes (McNemar): z = (b - c) / sqrt(b + c), with b the samples only
// `first` gets right and c those only `second` gets right; 0 when they never disagree.
double mcnemar_z(const std::vector<std::uint8_t>& first, const std::vector<std::uint8_t>& second);

}  // namespace moelab::cli
