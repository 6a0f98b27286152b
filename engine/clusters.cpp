#include "engine/clusters.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "engine/config_error.hpp"
#include "engine/rng.hpp"

namespace moelab {

Dataset make_clusters(const ClusterSpec& s) {
    if (s.clusters < 1 || s.dim < 1 || s.classes < 2 || s.samples < 1 || !(s.noise >= 0.0) ||
        !std::isfinite(s.separation))
        throw std::invalid_argument("clusters: need K >= 1, d >= 1, C >= 2, n >= 1, noise >= 0 and a finite separation");
    const Rng root(s.seed);
    const Rng centres = root.split("clusters.centres"), samples = root.split("clusters.samples"),
              directions = root.split("clusters.directions");
    const std::int64_t K = s.clusters, d = s.dim, C = s.classes, n = s.samples;
    std::vector<double> centre(static_cast<std::size_t>(K * d)), dir(static_cast<std::size_t>(K * C * d));
    for (std::int64_t i = 0; i < K * d; ++i)
        centre[static_cast<std::size_t>(i)] = s.separation * centres.normal(static_cast<std::uint64_t>(i));
    for (std::int64_t i = 0; i < K * C * d; ++i) dir[static_cast<std::size_t>(i)] = directions.normal(static_cast<std::uint64_t>(i));
    Dataset out;
    out.name = "clusters";
    out.num_classes = s.classes;
    out.x = Tensor(Shape{n, d});
    out.y.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t k = i % K;
        for (std::int64_t j = 0; j < d; ++j)
            out.x[i * d + j] = centre[static_cast<std::size_t>(k * d + j)] +
                               s.noise * samples.normal(static_cast<std::uint64_t>(i * d + j));
        int best = 0;
        double best_score = 0.0;
        for (std::int64_t c = 0; c < C; ++c) {
            double score = 0.0;
            for (std::int64_t j = 0; j < d; ++j)
                score += dir[static_cast<std::size_t>((k * C + c) * d + j)] *
                         (out.x[i * d + j] - centre[static_cast<std::size_t>(k * d + j)]);
            if (c == 0 || score > best_score) best = static_cast<int>(c), best_score = score;
        }
        out.y[static_cast<std::size_t>(i)] = best;
    }
    return out;
}

ClusterSpec parse_cluster_spec(const std::string& text) {
    ClusterSpec s;
    std::string body = text;
    if (body.rfind("clusters", 0) == 0) body = body.substr(8);
    if (!body.empty() && body[0] == ':') body = body.substr(1);
    std::stringstream items(body);
    std::string item;
    while (std::getline(items, item, ',')) {
        if (item.empty()) continue;
        const auto eq = item.find('=');
        if (eq == std::string::npos)
            throw ConfigError("data", "expected key=value, got '" + item + "'", "clusters");
        const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
        double v = 0.0;
        try {
            std::size_t used = 0;
            v = std::stod(value, &used);
            if (used != value.size()) throw std::invalid_argument("trailing");
        } catch (const std::exception&) {
            throw ConfigError("data", "value of '" + key + "' is not a number: '" + value + "'", "clusters");
        }
        auto integer = [&](double lo) {
            if (v != std::floor(v) || v < lo || v > 1e9)
                throw ConfigError("data", "'" + key + "' must be an integer >= " + std::to_string(static_cast<long>(lo)) +
                                  ", got '" + value + "'", "clusters");
            return static_cast<std::int64_t>(v);
        };
        if (key == "K") s.clusters = static_cast<int>(integer(1));
        else if (key == "d") s.dim = static_cast<int>(integer(1));
        else if (key == "C") s.classes = static_cast<int>(integer(2));
        else if (key == "n") s.samples = integer(1);
        else if (key == "seed") s.seed = static_cast<std::uint64_t>(integer(0));
        else if (key == "sep") s.separation = v;
        else if (key == "noise") {
            if (!(v >= 0.0)) throw ConfigError("data", "'noise' must be >= 0, got '" + value + "'", "clusters");
            s.noise = v;
        } else
            throw ConfigError("data", "unknown key '" + key + "' (expected K, d, C, n, sep, noise, seed)", "clusters");
        if (!std::isfinite(v)) throw ConfigError("data", "'" + key + "' must be finite", "clusters");
    }
    return s;
}

}  // namespace moelab
