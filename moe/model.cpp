#include "moe/model.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>
#include <type_traits>

#include "engine/config_error.hpp"

namespace moelab {

ModelKind parse_model_kind(const std::string& name) {
    if (name == "mlp") return ModelKind::mlp;
    if (name == "moe") return ModelKind::moe;
    if (name == "moe-model") return ModelKind::moe_model;
    throw ConfigError("model", "unknown model '" + name + "' (expected mlp, moe or moe-model)");
}

std::string to_string(ModelKind kind) {
    switch (kind) {
        case ModelKind::mlp: return "mlp";
        case ModelKind::moe: return "moe";
        case ModelKind::moe_model: return "moe-model";
    }
    return "?";
}

void ModelConfig::validate() const {
    // The data set's shape is no configuration key: a plain error.
    if (input_dim < 1) throw std::invalid_argument("input dimension: must be positive, got " + std::to_string(input_dim));
    if (classes < 2) throw std::invalid_argument("classes: need at least 2, got " + std::to_string(classes));
    auto require = [](bool ok, const std::string& key, const std::string& what) {
        if (!ok) throw ConfigError(key, what);
    };
    require(width >= 1, "width", "must be positive, got " + std::to_string(width));
    require(depth >= 1, "depth", "must be positive, got " + std::to_string(depth));
    require(hidden >= 0, "hidden", "must be >= 0, got " + std::to_string(hidden));
    require(kind == ModelKind::moe_model || kind == ModelKind::moe || hidden >= 1, "hidden",
            "an mlp needs a positive hidden width");
    if (kind != ModelKind::mlp) {
        require(experts >= 1, "experts", "must be at least 1, got " + std::to_string(experts));
        require(top_k >= 1 && top_k <= experts, "top-k",
                "must be in [1, experts = " + std::to_string(experts) + "], got " + std::to_string(top_k));
    }
    require(std::isfinite(capacity_factor), "capacity-factor", "must be finite");
    require(dropout >= 0.0 && dropout < 1.0, "dropout", "must be in [0, 1), got " + std::to_string(dropout));
    for (std::int64_t b : moe_blocks)
        require(b >= 0 && b < depth, "moe-blocks",
                "block " + std::to_string(b) + " is outside [0, depth = " + std::to_string(depth) + ")");
}

bool ModelConfig::is_moe_block(std::int64_t block) const {
    if (kind != ModelKind::moe) return false;
    return moe_blocks.empty() || std::find(moe_blocks.begin(), moe_blocks.end(), block) != moe_blocks.end();
}

nlohmann::json to_json(const ModelConfig& c) {
    return {{"kind", to_string(c.kind)},   {"input_dim", c.input_dim},
            {"classes", c.classes},        {"width", c.width},
            {"depth", c.depth},            {"hidden", c.hidden},
            {"experts", c.experts},        {"top_k", c.top_k},
            {"gate", to_string(c.gate)},   {"noisy", c.noisy},
            {"router", to_string(c.router)},
            {"capacity_factor", c.capacity_factor}, {"moe_blocks", c.moe_blocks},
            {"dropout", c.dropout},        {"seed", c.seed}};
}

ModelConfig model_config_from_json(const nlohmann::json& j) {
    if (!j.is_object()) throw std::invalid_argument("model config: expected a JSON object");
    static const std::set<std::string> known{"kind",  "input_dim", "classes", "width",           "depth",
                                             "hidden", "experts",  "top_k",   "gate",            "noisy", "router",
                                             "capacity_factor",    "moe_blocks", "dropout",      "seed"};
    for (const auto& [key, _] : j.items())
        if (!known.count(key)) throw std::invalid_argument("model config: unknown key '" + key + "'");
    ModelConfig c;
    auto get = [&](const char* key, auto& dst) {
        if (!j.contains(key)) return;
        // nlohmann turns a JSON float into an integer by a plain cast, undefined behaviour when it does not
        // fit (found by tests/fuzz/fuzz_config): integer keys refuse floats as the wrong type.
        using T = std::remove_cvref_t<decltype(dst)>;
        bool float_for_integer = false;
        if constexpr (std::is_integral_v<T>) float_for_integer = j.at(key).is_number_float();
        if constexpr (std::is_same_v<T, std::vector<std::int64_t>>)
            float_for_integer = std::any_of(j.at(key).begin(), j.at(key).end(),
                                            [](const nlohmann::json& e) { return e.is_number_float(); });
        if (float_for_integer)
            throw std::invalid_argument(std::string("model config: key '") + key + "' has the wrong type");
        try {
            j.at(key).get_to(dst);
        } catch (const nlohmann::json::exception&) {
            throw std::invalid_argument(std::string("model config: key '") + key + "' has the wrong type");
        }
    };
    std::string kind = to_string(c.kind), gate = to_string(c.gate), router = to_string(c.router);
    get("kind", kind);
    get("gate", gate);
    get("router", router);
    c.router = parse_router_training(router);
    c.kind = parse_model_kind(kind);
    c.gate = parse_gate_mode(gate);
    get("input_dim", c.input_dim);
    get("classes", c.classes);
    get("width", c.width);
    get("depth", c.depth);
    get("hidden", c.hidden);
    get("experts", c.experts);
    get("top_k", c.top_k);
    get("noisy", c.noisy);
    get("capacity_factor", c.capacity_factor);
    get("moe_blocks", c.moe_blocks);
    get("dropout", c.dropout);
    get("seed", c.seed);
    c.validate();
    return c;
}

BaselineMatch parse_baseline_match(const std::string& name) {
    if (const auto m = find_by_name(kBaselineMatches, name)) return *m;
    throw ConfigError("match", "unknown baseline '" + name + "' (expected compute or params)");
}

ModelConfig dense_baseline(const ModelConfig& moe, BaselineMatch match) {
    ModelConfig d = moe;
    d.kind = ModelKind::mlp;
    d.moe_blocks.clear();
    const std::int64_t h = std::max<std::int64_t>(moe.hidden, 1);
    if (match == BaselineMatch::compute) {
        d.hidden = moe.top_k * h;
    } else {
        // One MoE block: E experts of (2 w h + h + w) plus the router (w E + E). An FFN of width H has
        // 2 w H + H + w parameters; take the H that comes closest.
        const double w = static_cast<double>(moe.width), E = static_cast<double>(moe.experts);
        const double moe_params = E * (2 * w * static_cast<double>(h) + static_cast<double>(h) + w) + w * E + E;
        d.hidden = std::max<std::int64_t>(1, std::llround((moe_params - w) / (2 * w + 1)));
    }
    return d;
}

namespace {
MoELayerConfig moe_layer_config(const ModelConfig& c, std::int64_t dim, std::int64_t out) {
    return {dim, out, c.hidden, c.experts, c.top_k, c.gate, c.noisy, c.capacity_factor, c.dropout};
}
}  // namespace

Classifier::Classifier(const ModelConfig& config) : config_(config) {
    config_.validate();
    const Rng rng = Rng(config_.seed).split("init");
    const ModelConfig& c = config_;
    if (c.kind == ModelKind::moe_model) {
        moe_.push_back(MoELayer::create(params_, "moe", moe_layer_config(c, c.input_dim, c.classes), rng));
        moe_.back().router.learning = c.router;
        return;
    }
    stem_ = Linear::create(params_, "stem", c.input_dim, c.width, rng);
    for (std::int64_t b = 0; b < c.depth; ++b) {
        const std::string name = "blocks." + std::to_string(b);
        const bool is_moe = c.is_moe_block(b);
        block_is_moe_.push_back(is_moe);
        if (is_moe) {
            moe_.push_back(MoELayer::create(params_, join_name(name, "moe"), moe_layer_config(c, c.width, c.width), rng));
            moe_.back().router.learning = c.router;
        } else {
            ffn_.push_back({MLP::create(params_, join_name(name, "ffn"), {c.width, c.hidden, c.width}, rng, c.dropout)});
        }
    }
    head_ = Linear::create(params_, "head", c.width, c.classes, rng);
}

ModelOutput Classifier::forward(const Var& x, const ForwardOptions& o) const {
    if (x.shape().rank() != 2 || x.shape()[1] != config_.input_dim)
        throw ShapeError("model: input " + x.shape().str() + " does not match the model's input dimension " +
                         std::to_string(config_.input_dim));
    ModelOutput out;
    auto run_moe = [&](const MoELayer& layer, const Var& h, std::size_t index) {
        const bool swap_here = o.swap_layer < 0 || o.swap_layer == static_cast<std::int64_t>(index);
        RoutingControl control{o.k_override, swap_here ? o.swap_rank : -1, nullptr};
        if (o.frozen_routing) {
            if (index >= o.frozen_routing->size())
                throw std::invalid_argument("model: frozen routing has " + std::to_string(o.frozen_routing->size()) +
                                            " layers, the model has more MoE layers");
            control.frozen = &(*o.frozen_routing)[index];
        }
        MoEOutput m = layer.forward(h, o.training, o.rng.split("moe").split(index), control);
        out.dropped += m.dropped;
        out.routings.push_back(std::move(m.routing));
        return m.y;
    };
    if (config_.kind == ModelKind::moe_model) {
        out.logits = run_moe(moe_[0], x, 0);
        return out;
    }
    Var h = stem_.forward_relu(x);
    if (o.training && config_.dropout > 0.0) h = dropout(h, config_.dropout, o.rng.split("stem_dropout"), true);
    std::size_t next_ffn = 0, next_moe = 0;
    for (std::size_t b = 0; b < block_is_moe_.size(); ++b) {
        if (b > 0) h = relu(h);
        if (block_is_moe_[b]) {
            h = run_moe(moe_[next_moe], h, next_moe);
            ++next_moe;
        } else {
            h = ffn_[next_ffn++].mlp.forward(h, o.training, o.rng.split("ffn").split(b));
        }
    }
    out.logits = head_.forward(h);
    return out;
}

Var Classifier::aux_loss(const ModelOutput& out, double lb_weight, double z_weight, BalanceConvention conv) const {
    Var total;
    auto add_term = [&](const Var& t) { total = total.defined() ? add(total, t) : t; };
    for (const Routing& r : out.routings) {
        if (lb_weight > 0.0) add_term(mul_scalar(load_balancing_loss(r, config_.experts, conv), lb_weight));
        if (z_weight > 0.0) add_term(mul_scalar(router_z_loss(r.logits), z_weight));
    }
    return total;
}

Var dual_forward(const Classifier& standard, const Classifier& robust, double alpha, const Var& x) {
    if (!(alpha >= 0.0 && alpha <= 1.0))
        throw ConfigError("alpha", "must be in [0, 1], got " + std::to_string(alpha));
    Var ps = softmax(standard.forward(x).logits);
    Var pr = softmax(robust.forward(x).logits);
    return add(mul_scalar(ps, 1.0 - alpha), mul_scalar(pr, alpha));
}

}  // namespace moelab
