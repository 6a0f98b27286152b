#include "experiments/sweep/sweep_run.hpp"

#include <cmath>
#include <limits>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "experiments/io/config_keys.hpp"
#include "moe/model_io.hpp"
#include "theory/bounds/ibp.hpp"
#include "theory/bounds/lipschitz.hpp"
#include "theory/bounds/smoothing.hpp"

namespace moelab::cli {

namespace {

using nlohmann::json;

std::string cell(double v) { return json(v).dump(); }   // shortest round-trip text; NaN and inf become null

Dataset first_samples(const Dataset& d, std::int64_t n) { return subset(d, 0, std::min(n, d.size())); }

AttackSpec attack_spec_for(const SweepGrid& grid, bool images) {
    AttackSpec spec = grid.attack_spec;
    spec.domain = images ? kImageBox : Box{};
    return spec;
}

std::string certify_csv(const MethodRadii& r, const Dataset& test) {
    std::ostringstream csv;
    csv.precision(17);
    csv << "index,label,certified_radius,status\n";
    for (std::size_t i = 0; i < r.radius.size(); ++i) {
        csv << i << "," << test.y[i] << ",";
        if (std::isinf(r.radius[i])) csv << "inf";
        else if (!std::isnan(r.radius[i])) csv << r.radius[i];
        csv << "," << r.status[i] << "\n";
    }
    return csv.str();
}

// The worst layer: fewest experts above 1%, lowest entropy, largest share, collapsed if any layer is.
void append_usage_cells(const std::vector<ExpertUsage>& layers, std::vector<std::string>& values) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (layers.empty()) {
        values.insert(values.end(), {cell(nan), cell(nan), cell(nan), cell(nan)});
        return;
    }
    std::int64_t above = layers.front().above_1pct;
    double entropy = layers.front().entropy, max_share = 0.0;
    for (const auto& u : layers) {
        above = std::min(above, u.above_1pct);
        entropy = std::min(entropy, u.entropy);
        max_share = std::max(max_share, u.max_share);
    }
    values.insert(values.end(), {json(above).dump(), cell(entropy), cell(max_share), json(any_collapsed(layers)).dump()});
}

}  // namespace

std::vector<std::string> stage_columns(const SweepGrid& grid) {
    // Expert usage on the test set (moe/expert_usage.hpp), the worst MoE layer; null for a dense model.
    std::vector<std::string> c{"train_loss",         "test_loss",        "test_accuracy", "experts_above_1pct",
                               "usage_entropy",      "max_expert_share", "collapsed"};
    if (grid.attack) c.insert(c.end(), {"clean_accuracy", "robust_accuracy", "routing_change_rate"});
    if (grid.certify) c.insert(c.end(), {"certified_fraction", "mean_certified_radius"});
    return c;
}

void check_stages(const SweepGrid& grid, const SweepRun& run, bool images) {
    if (!grid.attack) return;
    const Classifier model(run.model);
    try {
        validate(attack_spec_for(grid, images), model);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(grid.path + ": attack: " + user_message(e));
    }
}

RunRow run_stages(const SweepGrid& grid, const SweepRun& run, const DataSplits& data, const std::string& dir) {
    RunRow row;
    row.columns = stage_columns(grid);
    write_file_atomic(dir + "/run.json", run_identity(grid, run).dump(2) + "\n");

    Classifier model(run.model);
    Optimizer optimizer(model.params(), run.train.optimizer);
    TrainState state;
    train(model, optimizer, data.train, data.test, run.train, state);
    save_model(dir + "/model.ckpt", model, &optimizer, run.train, state, grid.data);
    json epochs = json::array();
    for (const auto& m : state.history) epochs.push_back(to_json(m));
    write_file_atomic(dir + "/metrics.json", json{{"model", to_json(run.model)}, {"epochs", epochs}}.dump(2) + "\n");
    const EpochMetrics& last = state.history.back();
    row.values = {cell(last.train_loss), cell(last.test_loss), cell(last.test_accuracy)};
    append_usage_cells(last.test_usage, row.values);

    if (grid.attack) {
        const AttackSpec spec = attack_spec_for(grid, data.images);
        const Dataset test = first_samples(data.test, grid.attack_samples);
        const RobustnessReport rep = run_attack(model, test, spec);
        write_file_atomic(dir + "/attack.csv", to_csv(rep));
        const std::int64_t experts = model.moe_layers().empty() ? 0 : model.config().experts;
        json summary = summary_json(rep, spec, experts);
        summary["expert_usage_before"] = to_json(measure_expert_usage(model, test.x));
        summary["expert_usage_after"] = to_json(measure_expert_usage(model, rep.x_adv));
        write_file_atomic(dir + "/attack.json", summary.dump(2) + "\n");
        row.values.insert(row.values.end(),
                          {cell(rep.clean_accuracy), cell(rep.robust_accuracy), cell(rep.routing_change_rate)});
    }
    if (grid.certify) {
        const Dataset test = first_samples(data.test, grid.certify_spec.samples);
        const CertifySpec& c = grid.certify_spec;
        CertifySettings settings;
        settings.domain = data.images ? kImageBox : Box{};
        settings.sigma = c.sigma;
        settings.draws = c.n;
        const MethodRadii r = certify_by_method(c.method, model, test, c.norm, settings);
        write_file_atomic(dir + "/certify.csv", certify_csv(r, test));
        // Certified fraction: radius > 0. Mean radius over all samples, counting unsupported (NaN) as 0.
        double certified = 0.0, total = 0.0;
        for (double v : r.radius) {
            certified += v > 0.0;
            total += std::isnan(v) ? 0.0 : v;
        }
        const double n = static_cast<double>(std::max<std::size_t>(1, r.radius.size()));
        row.values.insert(row.values.end(), {cell(certified / n), cell(total / n)});
    }
    write_file_atomic(dir + "/result.json", json{{"columns", row.columns}, {"values", row.values}}.dump(2) + "\n");
    return row;
}

}  // namespace moelab::cli
