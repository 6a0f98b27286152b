// REPORT.md's model cards: every model the drivers trained (OUT/models/<name>/model.ckpt), with the settings that
// decide its routing and the expert usage it ended with, so no claim is read off a model whose experts are dead.
#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "experiments/claims/claims.hpp"
#include "experiments/claims/common.hpp"
#include "moe/model_io.hpp"

namespace fs = std::filesystem;

namespace moelab::cli {

namespace {

constexpr std::int64_t kCardSamples = 1000;   // test samples the usage is measured on

std::string card_row(const std::string& name, const SavedModel& s, std::map<std::string, DataSplits>& data) {
    const ModelConfig& c = s.model->config();
    std::ostringstream row;
    row << "| " << name << " | " << to_string(c.kind);
    if (c.kind == ModelKind::mlp) {
        row << " | | | | | | | dense |\n";
        return row.str();
    }
    auto it = data.find(s.data_spec);
    if (it == data.end()) it = data.emplace(s.data_spec, load_data(s.data_spec, 1, kCardSamples)).first;
    const std::vector<ExpertUsage> usage = measure_expert_usage(*s.model, it->second.test.x);
    row << " | " << c.experts << " | " << c.top_k << " | " << to_string(c.gate) << " | " << to_string(c.router) << " | "
        << num(s.train.lb_weight, 3) << " (" << to_string(s.train.lb_convention) << ") | " << num(s.train.z_weight, 3)
        << " | " << usage_line(usage) << " |\n";
    return row.str();
}

}  // namespace

std::string model_cards(const std::string& root) {
    const fs::path dir = fs::path(root) / "models";
    if (!fs::is_directory(dir)) return "";
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir))
        if (fs::exists(e.path() / "model.ckpt")) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    std::ostringstream md;
    md << "## Models\n\nEvery model trained for this report, with its expert usage on the first " << kCardSamples
       << " test samples of its data (shares per expert, layer by layer; COLLAPSED: fewer than half the experts get 1% "
          "of the selections, or one gets more than max(0.5, 2/E); docs/routing-and-balance.md).\n\n"
       << "| model | kind | E | k | gate | router | load balancing | z-loss | expert usage |\n"
       << "|---|---|---|---|---|---|---|---|---|\n";
    std::map<std::string, DataSplits> data;
    for (const auto& name : names) md << card_row(name, load_model((dir / name / "model.ckpt").string()), data);
    return md.str() + "\n";
}

}  // namespace moelab::cli
