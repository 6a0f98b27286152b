#include "experiments/claims/common.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "experiments/io/gnuplot_run.hpp"
#include <fstream>
#include <limits>
#include <numeric>

#include "engine/atomic_file.hpp"
#include "moe/expert_usage.hpp"
#include "moe/model_io.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace moelab::cli {

std::string num(double v, int prec) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", prec, v);
    return b;
}

void plot(const std::string& script, const std::string& dir) { draw_figure("repro", script, dir); }

std::string root_of(const std::string& dir) { return fs::path(dir).parent_path().parent_path().string(); }

std::string training_images(std::int64_t limit) { return limit < 0 ? std::string("all 60000") : std::to_string(limit); }

namespace {

std::string model_path(const std::string& root, const std::string& name) { return root + "/models/" + name + "/model.ckpt"; }

json stored_recipe(const std::string& root, const std::string& name) {
    std::ifstream in(root + "/models/" + name + "/recipe.json");
    if (!in) return json();
    try {
        return json::parse(in);
    } catch (const json::exception&) {
        return json("unreadable");
    }
}

}  // namespace

std::unique_ptr<Classifier> cached(const std::string& root, const std::string& name, const ModelConfig& mc,
                                   const TrainConfig& tc, const std::string& spec, const json& recipe) {
    const std::string path = model_path(root, name);
    if (!fs::exists(path) || stored_recipe(root, name) != recipe) return nullptr;
    SavedModel s = load_model(path);
    if (to_json(s.model->config()) == to_json(mc) && to_json(s.train) == to_json(tc) && s.data_spec == spec)
        return std::move(s.model);
    return nullptr;
}

void store(const std::string& root, const std::string& name, const Classifier& model, const Optimizer& opt,
           const TrainConfig& tc, const TrainState& state, const std::string& spec, const json& recipe) {
    const std::string path = model_path(root, name);
    fs::create_directories(fs::path(path).parent_path());
    save_model(path, model, &opt, tc, state, spec);
    const std::string recipe_path = root + "/models/" + name + "/recipe.json";
    if (recipe.is_null()) fs::remove(recipe_path);
    else write_file_atomic(recipe_path, recipe.dump(2) + "\n");
}

std::unique_ptr<Classifier> trained(const std::string& root, const std::string& name, const ModelConfig& mc,
                                    const TrainConfig& tc, const std::string& spec, const DataSplits& data,
                                    const json& recipe, const TrainHooks& hooks) {
    if (auto m = cached(root, name, mc, tc, spec, recipe)) return m;
    auto model = std::make_unique<Classifier>(mc);
    Optimizer opt(model->params(), tc.optimizer);
    TrainState state;
    std::fprintf(stderr, "repro: training %s (%s, %d epochs%s)\n", name.c_str(), to_string(mc.kind).c_str(), tc.epochs,
                 recipe.is_null() ? "" : (", " + recipe.value("recipe", std::string("custom"))).c_str());
    TrainHooks h = hooks;
    if (!h.on_epoch)
        h.on_epoch = [&name, &tc](const TrainState& st, const Optimizer&) {
            const EpochMetrics& m = st.history.back();
            if (tc.epochs > 10 && m.epoch % 10 != 0 && m.epoch != tc.epochs) return;   // long runs: every 10th epoch
            std::fprintf(stderr, "repro:   %s epoch %d/%d: train loss %.4f, test accuracy %.4f\n", name.c_str(), m.epoch,
                         tc.epochs, m.train_loss, m.test_accuracy);
        };
    train(*model, opt, data.train, data.test, tc, state, h);
    const std::string warning = collapse_warning(state.history.back());
    if (!warning.empty()) std::fprintf(stderr, "repro:   %s: %s\n", name.c_str(), warning.c_str());
    store(root, name, *model, opt, tc, state, spec, recipe);
    return model;
}

ModelConfig fashion_moe_config() {
    ModelConfig moe;
    moe.kind = ModelKind::moe;
    moe.input_dim = 784;
    moe.classes = 10;
    moe.experts = 8;
    moe.top_k = 2;
    return moe;
}

TrainConfig fashion_train_config(const ReproProfile& p) {
    TrainConfig tc;
    tc.epochs = static_cast<int>(p.epochs);
    tc.schedule = LrSchedule::cosine;
    return tc;
}

std::string seeded(const std::string& name, std::uint64_t seed) { return name + "-s" + std::to_string(seed); }

FashionModels fashion_models(const std::string& root, const ReproProfile& p, std::uint64_t seed) {
    FashionModels f;
    f.data = load_data("fashion-mnist", p.train_limit, p.test_samples);
    ModelConfig moe = fashion_moe_config();
    moe.seed = seed;
    TrainConfig tc = fashion_train_config(p);
    tc.seed = seed;
    f.moe = trained(root, seeded("fashion-moe", seed), moe, tc, "fashion-mnist", f.data);
    ModelConfig dense = dense_baseline(moe, BaselineMatch::compute);
    dense.seed = seed;
    f.dense = trained(root, seeded("fashion-dense", seed), dense, tc, "fashion-mnist", f.data);
    return f;
}

std::string usage_of(const std::string& name, const Classifier& model, const Tensor& x) {
    const std::vector<ExpertUsage> usage = measure_expert_usage(model, x);
    return name + ": " + (usage.empty() ? std::string("dense (no router)") : usage_line(usage));
}

namespace {

std::vector<double> ranks(const std::vector<double>& v) {
    std::vector<std::size_t> order(v.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
    std::vector<double> r(v.size());
    for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;
        while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
        const double avg = 0.5 * static_cast<double>(i + j) + 1.0;
        for (std::size_t t = i; t <= j; ++t) r[order[t]] = avg;
        i = j + 1;
    }
    return r;
}

}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (a.size() != b.size() || a.size() < 3) return nan;
    const auto ra = ranks(a), rb = ranks(b);
    const double n = static_cast<double>(a.size());
    const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n, mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
    double sab = 0.0, saa = 0.0, sbb = 0.0;
    for (std::size_t i = 0; i < ra.size(); ++i) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    return saa > 0.0 && sbb > 0.0 ? sab / std::sqrt(saa * sbb) : nan;
}

double mcnemar_z(const std::vector<std::uint8_t>& first, const std::vector<std::uint8_t>& second) {
    double b = 0.0, c = 0.0;
    for (std::size_t i = 0; i < std::min(first.size(), second.size()); ++i) {
        b += first[i] && !second[i];
        c += !first[i] && second[i];
    }
    return b + c > 0.0 ? (b - c) / std::sqrt(b + c) : 0.0;
}

}  // namespace moelab::cli
