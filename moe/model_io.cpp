#include "moe/model_io.hpp"

#include <algorithm>
#include <stdexcept>

#include "moe/model_size.hpp"

namespace moelab {

void save_model(const std::string& path, const Classifier& model, const Optimizer* optimizer,
                const TrainConfig& train, const TrainState& state, const std::string& data_spec) {
    Checkpoint ck;
    nlohmann::json history = nlohmann::json::array();
    // No wall-clock seconds: the same run gives the same checkpoint bytes (timings are in metrics.json).
    for (const auto& m : state.history) {
        history.push_back(to_json(m));
        history.back().erase("seconds");
    }
    ck.meta = nlohmann::json{{"format", "moelab-model"},
                             {"version", 1},
                             {"model", to_json(model.config())},
                             {"train", to_json(train)},
                             {"data", data_spec},
                             {"state", {{"epochs_done", state.epochs_done}, {"step", state.step}}},
                             {"history", history}}
                  .dump();
    ck.tensors = collect(model.params());
    if (optimizer)
        for (auto& [name, t] : optimizer->state()) ck.tensors.push_back({name, t});
    write_checkpoint(path, ck);
}

namespace {

// Every parameter is stored in the file, so a model needing more values than the file holds is refused
// before it is built (metadata of "experts": 1e8 once made eval allocate past 6 GB).
void require_params_in_file(const ModelConfig& config, const Checkpoint& ck) {
    config.validate();
    double stored = 0.0;
    for (const auto& t : ck.tensors) stored += static_cast<double>(t.tensor.numel());
    const double needed = parameter_lower_bound(config);
    if (needed > stored)
        throw std::invalid_argument("metadata describes a model of at least " + std::to_string(static_cast<long long>(std::min(needed, 9e18))) +
                                    " parameters, the file holds " + std::to_string(static_cast<long long>(stored)) + " values");
}

}  // namespace

SavedModel load_model(const std::string& path) {
    SavedModel s;
    s.checkpoint = read_checkpoint(path);
    nlohmann::json meta;
    try {
        meta = nlohmann::json::parse(s.checkpoint.meta);
    } catch (const nlohmann::json::exception&) {
        throw std::runtime_error(path + ": metadata is not valid JSON");
    }
    if (!meta.is_object() || meta.value("format", "") != "moelab-model")
        throw std::runtime_error(path + ": not a moelab model checkpoint (metadata format is not 'moelab-model')");
    if (meta.value("version", 0) != 1)
        throw std::runtime_error(path + ": model checkpoint version " + meta.value("version", nlohmann::json()).dump() +
                                 " is not supported (expected 1)");
    try {
        const ModelConfig config = model_config_from_json(meta.at("model"));
        require_params_in_file(config, s.checkpoint);
        s.model = std::make_unique<Classifier>(config);
        s.train = train_config_from_json(meta.at("train"));
        s.data_spec = meta.at("data").get<std::string>();
        s.state.epochs_done = meta.at("state").at("epochs_done").get<int>();
        s.state.step = meta.at("state").at("step").get<long>();
        for (const auto& h : meta.at("history")) s.state.history.push_back(epoch_metrics_from_json(h));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(path + ": incomplete model metadata (" + e.what() + ")");
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
    // Parameters only: optimizer entries are loaded separately.
    Checkpoint params_only;
    for (const auto& t : s.checkpoint.tensors)
        if (t.name.rfind("optim.", 0) != 0) params_only.tensors.push_back(t);
    load_params(params_only, s.model->params(), path);
    return s;
}

void load_optimizer_state(const SavedModel& saved, Optimizer& optimizer, const std::string& path) {
    std::vector<std::pair<std::string, Tensor>> state;
    for (const auto& t : saved.checkpoint.tensors)
        if (t.name.rfind("optim.", 0) == 0) state.emplace_back(t.name, t.tensor);
    if (state.empty()) throw std::runtime_error(path + ": holds no optimizer state to resume from");
    try {
        optimizer.load_state(state);
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

}  // namespace moelab
