#include "moe/expert_usage.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "moe/model.hpp"

namespace moelab {

ExpertUsage expert_usage(const std::vector<std::int64_t>& selections) {
    if (selections.empty()) throw std::invalid_argument("expert usage: needs at least one expert");
    ExpertUsage u;
    u.selections = selections;
    const auto E = static_cast<std::int64_t>(selections.size());
    std::int64_t total = 0;
    for (std::int64_t n : selections) total += n;
    u.share.assign(selections.size(), 0.0);
    if (total == 0) return u;
    double h = 0.0;
    for (std::size_t i = 0; i < selections.size(); ++i) {
        const double s = static_cast<double>(selections[i]) / static_cast<double>(total);
        u.share[i] = s;
        u.above_1pct += s >= 0.01;
        u.max_share = std::max(u.max_share, s);
        if (s > 0.0) h -= s * std::log(s);
    }
    u.entropy = E > 1 ? h / std::log(static_cast<double>(E)) : 0.0;
    // The rule of issue 18: fewer than half the experts get 1% of the work, or one expert takes more than
    // max(0.5, 2/E) of it.
    u.collapsed = 2 * u.above_1pct < E || u.max_share > std::max(0.5, 2.0 / static_cast<double>(E));
    return u;
}

void count_selections(const Routing& routing, std::vector<std::int64_t>& counts) {
    for (std::int64_t e : routing.expert) {
        if (e < 0 || e >= static_cast<std::int64_t>(counts.size()))
            throw std::invalid_argument("expert usage: routing selects expert " + std::to_string(e) + " of " +
                                        std::to_string(counts.size()));
        ++counts[static_cast<std::size_t>(e)];
    }
}

nlohmann::json to_json(const ExpertUsage& u) {
    return {{"selections", u.selections}, {"share", u.share},         {"above_1pct", u.above_1pct},
            {"entropy", u.entropy},       {"max_share", u.max_share}, {"collapsed", u.collapsed}};
}

ExpertUsage expert_usage_from_json(const nlohmann::json& j) {
    if (!j.is_object() || !j.contains("selections") || !j.at("selections").is_array())
        throw std::invalid_argument("expert usage: key 'selections' must be an array of counts");
    std::vector<std::int64_t> counts;
    for (const auto& v : j.at("selections")) {
        if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
            throw std::invalid_argument("expert usage: key 'selections' must hold non-negative integers");
        counts.push_back(v.get<std::int64_t>());
    }
    return expert_usage(counts);   // every other field follows from the counts
}

std::string usage_line(const ExpertUsage& u) {
    std::string s = "shares ";
    char b[64];
    for (std::size_t i = 0; i < u.share.size(); ++i) {
        std::snprintf(b, sizeof b, "%s%.2f", i ? "/" : "", u.share[i]);
        s += b;
    }
    std::snprintf(b, sizeof b, ", %lld/%zu experts >= 1%%, entropy %.2f, max %.2f", static_cast<long long>(u.above_1pct),
                  u.share.size(), u.entropy, u.max_share);
    s += b;
    if (u.collapsed) s += ", COLLAPSED";
    return s;
}

std::string usage_line(const std::vector<ExpertUsage>& layers) {
    std::string s;
    for (std::size_t l = 0; l < layers.size(); ++l)
        s += (l ? "; layer " : "layer ") + std::to_string(l) + ": " + usage_line(layers[l]);
    return s;
}

bool any_collapsed(const std::vector<ExpertUsage>& layers) {
    return std::any_of(layers.begin(), layers.end(), [](const ExpertUsage& u) { return u.collapsed; });
}

nlohmann::json to_json(const std::vector<ExpertUsage>& layers) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& u : layers) a.push_back(to_json(u));
    return a;
}

std::vector<ExpertUsage> measure_expert_usage(const Classifier& model, const Tensor& x, std::int64_t k_override,
                                              std::int64_t batch_size) {
    const NoGradGuard no_grad;
    const std::size_t layers = model.moe_layers().size();
    std::vector<std::vector<std::int64_t>> counts(layers, std::vector<std::int64_t>(static_cast<std::size_t>(model.config().experts), 0));
    ForwardOptions o;
    o.k_override = k_override;
    const std::int64_t n = x.rows(), d = x.cols();
    for (std::int64_t b0 = 0; layers > 0 && b0 < n; b0 += batch_size) {
        const std::int64_t m = std::min(batch_size, n - b0);
        Tensor rows(Shape{m, d}, std::vector<double>(x.data() + b0 * d, x.data() + (b0 + m) * d));
        const ModelOutput out = model.forward(Var(std::move(rows)), o);
        for (std::size_t l = 0; l < layers; ++l) count_selections(out.routings[l], counts[l]);
    }
    std::vector<ExpertUsage> usage;
    for (const auto& c : counts) usage.push_back(expert_usage(c));
    return usage;
}

}  // namespace moelab
