#include "moe/shard_step.hpp"

#include <algorithm>
#include <cmath>

namespace moelab {

namespace {

// Header fields of a record, then `experts` loads per MoE layer (layer by layer), then one reached-flag per
// parameter, then gradients.
enum Field : std::size_t { kLoss, kCe, kAux, kEntropy, kRouted, kCorrect, kDropped, kHeader };

double mean_entropy(const Tensor& probs) {
    double total = 0.0;
    const std::int64_t rows = probs.rows(), cols = probs.cols();
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) {
            const double p = probs[r * cols + c];
            if (p > 0.0) total -= p * std::log(p);
        }
    return rows > 0 ? total / static_cast<double>(rows) : 0.0;
}

}  // namespace

ShardRecords::ShardRecords(Classifier& model, bool gradients_in_place) : model_(model), in_place_(gradients_in_place) {
    loads_ = model.moe_layers().size() * static_cast<std::size_t>(model.config().experts);
    const auto& params = model.params().all();
    size_ = kHeader + loads_ + (in_place_ ? 0 : params.size() + static_cast<std::size_t>(model.params().numel()));
}

void ShardRecords::empty(double* record) const { std::fill(record, record + size_, 0.0); }

void ShardRecords::compute(const BatchLossFn& loss_fn, const Tensor& x, const std::vector<int>& labels,
                           const ForwardOptions& fo, const TrainConfig& config, double weight, double* record) const {
    empty(record);
    const GradModeGuard grad_on(true);   // a step taken from inside a NoGradGuard must still learn
    model_.params().zero_grad();
    const BatchLoss bl = loss_fn ? loss_fn(model_, x, labels, fo, config) : standard_batch_loss(model_, x, labels, fo, config);
    // weight is 1 for a single shard: multiplying by 1 is exact, so S = 1 is the plain step bit for bit.
    const Var loss = mul_scalar(bl.loss, weight);
    backward(loss);
    record[kLoss] = loss.value().item();
    record[kCe] = weight * bl.ce.value().item();
    if (bl.aux.defined()) record[kAux] = weight * bl.aux.value().item();
    const auto pred = argmax_rows(bl.out.logits.value());
    std::int64_t correct = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) correct += pred[i] == labels[i];
    record[kCorrect] = static_cast<double>(correct);
    record[kDropped] = static_cast<double>(bl.out.dropped);
    if (!bl.out.routings.empty()) {
        const Routing& r = bl.out.routings.front();
        const auto E = static_cast<std::size_t>(model_.config().experts);
        for (std::size_t l = 0; l < bl.out.routings.size() && (l + 1) * E <= loads_; ++l)
            for (std::int64_t e : bl.out.routings[l].expert) record[kHeader + l * E + static_cast<std::size_t>(e)] += 1.0;
        record[kEntropy] = weight * mean_entropy(r.probs.value());
        record[kRouted] = 1.0;
    }
    if (in_place_) return;
    double* flags = record + kHeader + loads_;
    double* grads = flags + model_.params().size();
    for (const auto& p : model_.params().all()) {
        const Tensor& g = p.var.grad();
        const std::int64_t n = p.var.value().numel();
        if (!g.empty()) {
            *flags = 1.0;
            std::copy_n(g.data(), n, grads);
        }
        ++flags;
        grads += n;
    }
}

StepTotals ShardRecords::sum(const std::vector<double>& records, int shards) const {
    StepTotals t;
    t.expert_load.assign(loads_, 0);
    for (int s = 0; s < shards; ++s) {
        const double* r = records.data() + static_cast<std::size_t>(s) * size_;
        t.loss += r[kLoss];
        t.ce += r[kCe];
        t.aux += r[kAux];
        t.entropy += r[kEntropy];
        t.routed = t.routed || r[kRouted] != 0.0;
        t.correct += static_cast<std::int64_t>(r[kCorrect]);
        t.dropped += static_cast<std::int64_t>(r[kDropped]);
        for (std::size_t e = 0; e < loads_; ++e) t.expert_load[e] += static_cast<std::int64_t>(r[kHeader + e]);
    }
    if (in_place_) return t;
    const std::size_t flags = kHeader + loads_;
    std::size_t offset = flags + model_.params().size();
    std::size_t index = 0;
    for (auto& p : model_.params().all()) {
        const std::int64_t n = p.var.value().numel();
        Var v = p.var;
        v.zero_grad();
        for (int s = 0; s < shards; ++s) {
            const double* r = records.data() + static_cast<std::size_t>(s) * size_;
            if (r[flags + index] == 0.0) continue;
            const double* g = r + offset;
            if (v.grad().empty()) {
                v.grad() = Tensor(p.var.value().shape(), std::vector<double>(g, g + n));
            } else {
                double* acc = v.grad().data();
                for (std::int64_t i = 0; i < n; ++i) acc[i] += g[i];
            }
        }
        offset += static_cast<std::size_t>(n);
        ++index;
    }
    return t;
}

}  // namespace moelab
