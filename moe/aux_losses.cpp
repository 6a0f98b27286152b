#include "moe/aux_losses.hpp"

#include <stdexcept>

#include "engine/config_error.hpp"

namespace moelab {

BalanceConvention parse_balance_convention(const std::string& name) {
    if (name == "top1") return BalanceConvention::top1;
    if (name == "all-picks") return BalanceConvention::all_picks;
    throw ConfigError("lb-convention", "unknown convention '" + name + "' (expected top1 or all-picks)");
}

std::string to_string(BalanceConvention c) { return c == BalanceConvention::top1 ? "top1" : "all-picks"; }

Var load_balancing_loss(const Routing& routing, std::int64_t experts, BalanceConvention convention) {
    const std::int64_t rows = routing.rows(), k = routing.k;
    Tensor f(Shape{experts}, 0.0);
    const std::int64_t picks = convention == BalanceConvention::top1 ? 1 : k;
    for (std::int64_t b = 0; b < rows; ++b)
        for (std::int64_t j = 0; j < picks; ++j) f[routing.expert[static_cast<std::size_t>(b * k + j)]] += 1.0;
    const double scale = static_cast<double>(experts) / static_cast<double>(rows * picks);
    for (double& v : f.vec()) v *= scale;   // f_i * E, folded so the loss is sum_i (E f_i) P_i
    return sum_all(mul(mean(routing.probs, 0), Var(std::move(f))));
}

Var router_z_loss(const Var& logits) {
    // logsumexp(s) = s_0 - log_softmax(s)_0, computed stably through log_softmax.
    const std::int64_t rows = logits.shape()[0];
    const std::vector<std::int64_t> first(static_cast<std::size_t>(rows), 0);
    Var lse = sub(gather_cols(logits, first, 1), gather_cols(log_softmax(logits), first, 1));
    return mean_all(mul(lse, lse));
}

}  // namespace moelab
