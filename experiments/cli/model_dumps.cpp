#include "experiments/cli/model_dumps.hpp"

#include <algorithm>
#include <cstring>

#include "engine/ops.hpp"

namespace moelab::cli {

namespace {

// Copies a batch's [m, cols] rows into `all` at row b0.
void put_rows(Tensor& all, std::int64_t b0, const Tensor& rows) {
    if (rows.numel() > 0)
        std::memcpy(all.data() + b0 * all.cols(), rows.data(), static_cast<std::size_t>(rows.numel()) * sizeof(double));
}

}  // namespace

Tensor dump_logits(const Classifier& model, const Dataset& data, std::int64_t k_override) {
    NoGradGuard no_grad;
    ForwardOptions opt;
    opt.k_override = k_override;
    Tensor all(Shape{data.size(), model.config().classes}, 0.0);
    for (std::int64_t b0 = 0; b0 < data.size(); b0 += kDumpBatch) {
        const Dataset batch = subset(data, b0, std::min(kDumpBatch, data.size() - b0));
        put_rows(all, b0, model.forward(Var(batch.x), opt).logits.value());
    }
    return all;
}

Tensor dump_input_gradients(const Classifier& model, const Dataset& data, std::int64_t k_override) {
    const GradModeGuard grad_on(true);
    const FrozenParams frozen(model.params());   // the input's gradient only
    ForwardOptions opt;
    opt.k_override = k_override;
    Tensor all(Shape{data.size(), data.dim()}, 0.0);
    for (std::int64_t b0 = 0; b0 < data.size(); b0 += kDumpBatch) {
        const Dataset batch = subset(data, b0, std::min(kDumpBatch, data.size() - b0));
        Var x(batch.x, true);
        const Var z = model.forward(x, opt).logits;
        // d/dz of sum_i -log softmax(z_i)[y_i] is softmax(z) - onehot(y), row by row.
        Tensor seed = softmax(Var(z.value())).value();
        for (std::int64_t i = 0; i < batch.size(); ++i) seed.at(i, batch.y[static_cast<std::size_t>(i)]) -= 1.0;
        backward(z, seed);
        if (!x.grad().empty()) put_rows(all, b0, x.grad());
    }
    return all;
}

}  // namespace moelab::cli
