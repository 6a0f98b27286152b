#include "moe/model_size.hpp"

namespace moelab {

namespace {

double d(std::int64_t v) { return static_cast<double>(v); }

// One expert or FFN on `in` features: fc1 in -> hidden and fc2 hidden -> out, or one in -> out map.
double chain_weights(const ModelConfig& c, std::int64_t in, std::int64_t out) {
    return c.hidden > 0 ? d(in) * d(c.hidden) + d(c.hidden) * d(out) : d(in) * d(out);
}

}  // namespace

double parameter_lower_bound(const ModelConfig& c) {
    if (c.kind == ModelKind::moe_model)
        return d(c.input_dim) * d(c.experts) + d(c.experts) * chain_weights(c, c.input_dim, c.classes);
    double n = d(c.input_dim) * d(c.width) + d(c.width) * d(c.classes);
    // No loop over depth (metadata may say 1e15): MoE blocks are all blocks or the listed ones.
    const double moe_blocks = c.kind != ModelKind::moe ? 0.0 : c.moe_blocks.empty() ? d(c.depth) : 1.0;
    const double moe = d(c.width) * d(c.experts) + d(c.experts) * chain_weights(c, c.width, c.width);
    return n + moe_blocks * moe + (d(c.depth) - moe_blocks) * (c.hidden > 0 ? chain_weights(c, c.width, c.width) : 0.0);
}

}  // namespace moelab
