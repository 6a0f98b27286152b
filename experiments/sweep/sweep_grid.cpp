#include "experiments/sweep/sweep_grid.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "engine/atomic_file.hpp"
#include "experiments/io/config_keys.hpp"

namespace moelab::cli {

namespace {

using nlohmann::json;

const std::set<std::string> kModelKeys{"kind",  "width", "depth",           "hidden",     "experts", "top_k",
                                       "gate",  "noisy", "capacity_factor", "moe_blocks", "dropout"};
const std::set<std::string> kTrainKeys{"epochs",   "batch_size", "optimizer", "lr",           "momentum",    "weight_decay",
                                       "schedule", "lb_weight",  "z_weight",  "lb_convention", "micro_shards"};
const std::int64_t kMaxRuns = 100000;

std::string joined(const std::set<std::string>& keys) {
    std::string s;
    for (const auto& k : keys) s += (s.empty() ? "" : ", ") + k;
    return s;
}

// Type-checked access to one JSON object, errors "<file>: <where>.<key>: <what>".
class Fields {
public:
    Fields(const std::string& file, const json& obj, std::string where) : file_(file), obj_(obj), where_(std::move(where)) {
        if (!obj_.is_object()) fail("", "expected a JSON object");
    }
    [[noreturn]] void fail(const std::string& key, const std::string& what) const {
        std::string at = where_.empty() ? key : key.empty() ? where_ : where_ + "." + key;
        throw std::invalid_argument(file_ + ": " + (at.empty() ? "" : at + ": ") + what);
    }
    void only(const std::set<std::string>& known) const {
        for (const auto& [key, _] : obj_.items())
            if (!known.count(key)) fail(key, "unknown key (expected one of " + joined(known) + ")");
    }
    bool has(const std::string& key) const { return obj_.contains(key); }
    const json& at(const std::string& key) const { return obj_.at(key); }
    std::string text(const std::string& key, std::string fallback) const {
        if (!has(key)) return fallback;
        if (!at(key).is_string()) fail(key, "expected a string");
        return at(key).get<std::string>();
    }
    double number(const std::string& key, double fallback) const {
        if (!has(key)) return fallback;
        if (!at(key).is_number()) fail(key, "expected a number");
        return at(key).get<double>();
    }
    std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min) const {
        if (!has(key)) return fallback;
        if (!at(key).is_number_integer()) fail(key, "expected an integer");
        const std::int64_t v = at(key).get<std::int64_t>();
        if (v < min) fail(key, "must be at least " + std::to_string(min) + ", got " + std::to_string(v));
        return v;
    }
    bool flag(const std::string& key, bool fallback) const {
        if (!has(key)) return fallback;
        if (!at(key).is_boolean()) fail(key, "expected true or false");
        return at(key).get<bool>();
    }
    std::vector<double> numbers(const std::string& key) const {
        std::vector<double> v;
        if (!has(key)) return v;
        if (!at(key).is_array()) fail(key, "expected a list of numbers");
        for (const auto& e : at(key)) {
            if (!e.is_number()) fail(key, "expected a list of numbers");
            v.push_back(e.get<double>());
        }
        return v;
    }

private:
    const std::string& file_;
    const json& obj_;
    std::string where_;
};

// The model and train configs of a merged base + vary object (keys already checked), via the checkpoint
// parsers. Throws their std::invalid_argument (naming the key or flag).
std::pair<ModelConfig, TrainConfig> configs_of(const json& merged, std::uint64_t seed) {
    json m = json::object(), t = json::object();
    for (const auto& [key, value] : merged.items()) (kModelKeys.count(key) ? m : t)[key] = value;
    m["seed"] = seed;
    t["seed"] = seed;
    return {model_config_from_json(m), train_config_from_json(t)};
}

void check_config_keys(const Fields& f, const json& obj) {
    for (const auto& [key, _] : obj.items()) {
        if (key == "seed" || key == "input_dim" || key == "classes")
            f.fail(key, "not a grid key (seeds come from \"seeds\", input_dim and classes from the data)");
        if (!kModelKeys.count(key) && !kTrainKeys.count(key))
            f.fail(key, "unknown key (model keys: " + joined(kModelKeys) + "; train keys: " + joined(kTrainKeys) + ")");
    }
}

std::vector<std::string> read_stages(const Fields& top) {
    if (!top.has("stages")) return {"train"};
    const json& s = top.at("stages");
    if (!s.is_array() || s.empty()) top.fail("stages", "expected a non-empty list of train, attack, certify");
    std::vector<std::string> stages;
    for (const auto& e : s) {
        const std::string name = e.is_string() ? e.get<std::string>() : e.dump();
        if (name != "train" && name != "attack" && name != "certify")
            top.fail("stages", "unknown stage " + name + " (expected train, attack, certify)");
        if (std::find(stages.begin(), stages.end(), name) != stages.end()) top.fail("stages", "repeats " + name);
        stages.push_back(name);
    }
    if (std::find(stages.begin(), stages.end(), "train") == stages.end())
        top.fail("stages", "must include train (attack and certify judge the trained model)");
    return stages;
}

void read_attack(const std::string& file, const json& j, SweepGrid& g) {
    const Fields f(file, j, "attack");
    f.only({"attack", "norm", "eps", "steps", "step_size", "step_schedule", "restarts", "random_start", "loss", "target",
            "eps_grid", "overshoot", "bisection_steps", "top_k", "swap_rank", "batch_size", "seed", "samples"});
    if (!f.has("attack")) f.fail("attack", "missing (which attack: " + attack_name_list() + ")");
    AttackSpec& s = g.attack_spec;
    const std::string name = f.text("attack", "");
    if (const auto a = find_attack(name)) s.attack = *a;
    else f.fail("attack", "unknown attack '" + name + "'");
    auto parsed = [&](const std::string& key, auto parse, const std::string& fallback) {
        try {
            return parse(f.text(key, fallback));
        } catch (const std::invalid_argument& e) {
            f.fail(key, user_message(e));
        }
    };
    s.options.norm = parsed("norm", parse_norm, "linf");
    s.options.schedule = parsed("step_schedule", parse_step_schedule, "constant");
    s.options.loss = parsed("loss", parse_attack_loss, "ce");
    s.options.eps = f.number("eps", 0.1);
    s.options.steps = static_cast<int>(f.integer("steps", 10, 1));
    s.options.step_size = f.number("step_size", 0.0);
    s.options.restarts = static_cast<int>(f.integer("restarts", 1, 1));
    s.options.random_start = f.flag("random_start", true);
    s.options.seed = static_cast<std::uint64_t>(f.integer("seed", 1, 0));
    s.minimal.max_iter = s.options.steps;
    s.minimal.overshoot = f.number("overshoot", 0.02);
    s.minimal.bisection_steps = static_cast<int>(f.integer("bisection_steps", 20, 1));
    s.eps_grid = f.numbers("eps_grid");
    if (f.has("target")) s.target = f.at("target").is_number_integer() ? f.at("target").dump() : f.text("target", "");
    s.k_override = f.integer("top_k", 0, 0);
    s.swap_rank = f.integer("swap_rank", 0, 0);
    s.batch_size = f.integer("batch_size", 250, 1);
    g.attack_samples = f.integer("samples", 100, 1);
    try {
        s.options.validate();
    } catch (const std::invalid_argument& e) {
        f.fail("", user_message(e));
    }
}

void read_certify(const std::string& file, const json& j, SweepGrid& g) {
    const Fields f(file, j, "certify");
    f.only({"method", "norm", "samples", "sigma", "n"});
    CertifySpec& c = g.certify_spec;
    const std::string name = f.text("method", "");
    const auto method = find_certify_method(name);
    if (!method || !info(*method).shared) {
        const std::vector<std::string> shared = certify_method_names(true);
        f.fail("method", "expected one of " + joined(std::set<std::string>(shared.begin(), shared.end())) + ", got '" + name + "'");
    }
    c.method = *method;
    // The default norm: L-inf where the method certifies it (all but smoothing), else L2.
    try {
        c.norm = parse_norm(f.text("norm", certifies(c.method, Norm::linf) ? "linf" : "l2"));
    } catch (const std::invalid_argument& e) {
        f.fail("norm", user_message(e));
    }
    if (!certifies(c.method, c.norm)) f.fail("norm", name + " certifies " + (certifies(c.method, Norm::linf) ? "linf" : "l2"));
    c.samples = f.integer("samples", 100, 1);
    c.sigma = f.number("sigma", 0.25);
    if (!(c.sigma > 0.0)) f.fail("sigma", "must be positive");
    c.n = f.integer("n", 1000, 1);
}

}  // namespace

namespace {

json parse_grid_file(const std::string& path) {
    std::string text;
    try {
        text = read_file(path);
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string("--grid: ") + user_message(e));
    }
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        throw std::invalid_argument(path + ": not valid JSON (" + user_message(e) + ")");
    }
}

// "base" checked on its own; returns it (an empty object when absent).
json read_base(const std::string& path, const Fields& top) {
    const json base = top.has("base") ? top.at("base") : json::object();
    const Fields base_fields(path, base, "base");
    check_config_keys(base_fields, base);
    try {
        configs_of(base, 1);
    } catch (const std::invalid_argument& e) {
        base_fields.fail("", user_message(e));
    }
    return base;
}

// "vary": each value checked on the base; sets g.vary_keys and returns the lists, in key order.
std::vector<std::vector<json>> read_vary(const std::string& path, const Fields& top, const json& base, SweepGrid& g) {
    const json vary = top.has("vary") ? top.at("vary") : json::object();
    const Fields vary_fields(path, vary, "vary");
    check_config_keys(vary_fields, vary);
    std::vector<std::vector<json>> values;
    std::int64_t configs = 1;
    for (const auto& [key, list] : vary.items()) {   // nlohmann keeps object keys sorted: the grid order
        if (!list.is_array() || list.empty()) vary_fields.fail(key, "expected a non-empty list of values");
        g.vary_keys.push_back(key);
        values.emplace_back(list.begin(), list.end());
        for (std::size_t i = 0; i < list.size(); ++i) {
            json merged = base;
            merged[key] = list[i];
            try {
                configs_of(merged, 1);
            } catch (const std::invalid_argument& e) {
                vary_fields.fail(key + "[" + std::to_string(i) + "]", user_message(e));
            }
        }
        configs *= static_cast<std::int64_t>(list.size());
        if (configs > kMaxRuns) vary_fields.fail("", "more than " + std::to_string(kMaxRuns) + " configurations");
    }
    return values;
}

std::vector<std::uint64_t> read_seeds(const Fields& top) {
    std::vector<std::uint64_t> seeds{1};
    if (!top.has("seeds")) return seeds;
    const json& s = top.at("seeds");
    if (!s.is_array() || s.empty()) top.fail("seeds", "expected a non-empty list of non-negative integers");
    seeds.clear();
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (!s[i].is_number_unsigned()) top.fail("seeds[" + std::to_string(i) + "]", "expected a non-negative integer");
        const auto v = s[i].get<std::uint64_t>();
        if (std::find(seeds.begin(), seeds.end(), v) != seeds.end())
            top.fail("seeds[" + std::to_string(i) + "]", "repeats seed " + std::to_string(v));
        seeds.push_back(v);
    }
    return seeds;
}

// "stages" and the settings of the attack and certify stages.
void read_stage_settings(const std::string& path, const Fields& top, SweepGrid& g) {
    g.stages = read_stages(top);
    g.attack = std::find(g.stages.begin(), g.stages.end(), "attack") != g.stages.end();
    g.certify = std::find(g.stages.begin(), g.stages.end(), "certify") != g.stages.end();
    if (g.attack != top.has("attack"))
        top.fail("attack", g.attack ? "missing (the stage attack needs its settings)" : "given, but attack is not in stages");
    if (g.certify != top.has("certify"))
        top.fail("certify", g.certify ? "missing (the stage certify needs its settings)" : "given, but certify is not in stages");
    if (g.attack) {
        read_attack(path, top.at("attack"), g);
        g.attack_json = top.at("attack");
    }
    if (g.certify) {
        read_certify(path, top.at("certify"), g);
        g.certify_json = top.at("certify");
    }
}

// The product of the vary lists, the last key fastest, then the seeds.
void expand_runs(const Fields& top, const json& base, const std::vector<std::vector<json>>& values,
                 const std::vector<std::uint64_t>& seeds, SweepGrid& g) {
    std::int64_t configs = 1;
    for (const auto& list : values) configs *= static_cast<std::int64_t>(list.size());
    std::vector<std::size_t> pick(values.size(), 0);
    for (std::int64_t c = 0; c < configs; ++c) {
        json merged = base, chosen = json::object();
        for (std::size_t k = 0; k < values.size(); ++k) {
            merged[g.vary_keys[k]] = values[k][pick[k]];
            chosen[g.vary_keys[k]] = values[k][pick[k]];
        }
        for (std::uint64_t seed : seeds) {
            SweepRun r;
            r.index = static_cast<std::int64_t>(g.runs.size());
            r.vary = chosen;
            r.seed = seed;
            try {
                std::tie(r.model, r.train) = configs_of(merged, seed);
            } catch (const std::invalid_argument& e) {
                top.fail("vary", "run " + std::to_string(r.index) + " " + chosen.dump() + ": " + user_message(e));
            }
            g.runs.push_back(std::move(r));
        }
        for (std::size_t k = values.size(); k-- > 0;) {
            if (++pick[k] < values[k].size()) break;
            pick[k] = 0;
        }
    }
    if (static_cast<std::int64_t>(g.runs.size()) > kMaxRuns) top.fail("seeds", "more than " + std::to_string(kMaxRuns) + " runs");
}

}  // namespace

SweepGrid read_sweep_grid(const std::string& path) {
    SweepGrid g;
    g.path = path;
    const json j = parse_grid_file(path);
    const Fields top(path, j, "");
    top.only({"data", "train_limit", "test_limit", "base", "vary", "seeds", "stages", "attack", "certify"});
    if (!top.has("data")) top.fail("data", "missing (the --data of every run, e.g. \"clusters:K=4,d=8,n=800\")");
    g.data = top.text("data", "");
    g.train_limit = top.integer("train_limit", -1, 1);
    g.test_limit = top.integer("test_limit", -1, 1);
    const json base = read_base(path, top);
    const std::vector<std::vector<json>> values = read_vary(path, top, base, g);
    const std::vector<std::uint64_t> seeds = read_seeds(top);
    read_stage_settings(path, top, g);
    expand_runs(top, base, values, seeds, g);
    return g;
}

nlohmann::json run_identity(const SweepGrid& grid, const SweepRun& run) {
    return {{"run", run.index},
            {"data", grid.data},
            {"train_limit", grid.train_limit},
            {"test_limit", grid.test_limit},
            {"vary", run.vary},
            {"seed", run.seed},
            {"model", to_json(run.model)},
            {"train", to_json(run.train)},
            {"stages", grid.stages},
            {"attack", grid.attack_json},
            {"certify", grid.certify_json}};
}

}  // namespace moelab::cli
