#include <cstring>
#include <optional>

#include "experiments/cluster/byte_records.hpp"
#include "experiments/io/progress.hpp"
#include "experiments/cluster/sample_split.hpp"
#include "experiments/cluster/split_runs.hpp"

namespace moelab::cli {

namespace {

// One sample's record and its reported point (row `row` of x_adv); `offset` turns the block's own sample
// numbers into the run's.
void pack(ByteWriter& w, const SampleRecord& s, const Tensor& x_adv, std::int64_t row, std::int64_t offset) {
    w.put(s.index + offset);
    w.put(s.label);
    w.put(s.clean_pred);
    w.put(s.adv_pred);
    w.put(s.success);
    w.put(s.distance);
    w.put(s.routing_changed);
    w.put(s.top1_changed);
    w.put(s.experts_before);
    w.put(s.experts_after);
    w.put(s.full_model_pred);
    w.put(s.robust_at);
    const double* p = x_adv.data() + row * x_adv.cols();
    w.put(std::vector<double>(p, p + x_adv.cols()));
}

SampleRecord unpack(ByteReader& b, std::vector<double>& points) {
    SampleRecord s;
    s.index = b.get<std::int64_t>();
    s.label = b.get<int>();
    s.clean_pred = b.get<int>();
    s.adv_pred = b.get<int>();
    s.success = b.get<bool>();
    s.distance = b.get<double>();
    s.routing_changed = b.get<bool>();
    s.top1_changed = b.get<bool>();
    s.experts_before = b.get_vector<std::int64_t>();
    s.experts_after = b.get_vector<std::int64_t>();
    s.full_model_pred = b.get<int>();
    s.robust_at = b.get_vector<std::uint8_t>();
    const std::vector<double> point = b.get_vector<double>();
    points.insert(points.end(), point.begin(), point.end());
    return s;
}

}  // namespace

RobustnessReport attack_on_ranks(const Classifier& model, const Dataset& data, const AttackSpec& spec,
                                 const std::string& label) {
    const SampleBlock block = my_batches(data.size(), spec.batch_size);
    const long batches = static_cast<long>((block.size() + spec.batch_size - 1) / spec.batch_size);
    std::optional<Progress> bar;
    if (is_rank0()) bar.emplace(block_label(label, block.begin, block.end, data.size()), batches, "batches");
    RobustnessReport mine;
    run_on_every_rank([&] {
        mine = run_attack(model, split_over_ranks() ? subset(data, block.begin, block.size()) : data, spec,
                          [&](long done, long) {
                              if (bar) bar->update(done);
                          });
    });
    if (bar) bar->finish();
    if (!split_over_ranks()) return mine;
    ByteWriter w;
    for (std::size_t i = 0; i < mine.samples.size(); ++i)
        pack(w, mine.samples[i], mine.x_adv, static_cast<std::int64_t>(i), block.begin);
    if (!is_rank0()) {
        gather_records(w.bytes());
        return {};
    }
    RobustnessReport all;
    std::vector<double> points;
    for (const std::string& part : gather_records(w.bytes())) {
        ByteReader b(part);
        while (!b.done()) all.samples.push_back(unpack(b, points));
    }
    all.x_adv = Tensor(Shape{static_cast<std::int64_t>(all.samples.size()), data.dim()}, std::move(points));
    summarize(all, spec);
    all.seconds = mine.seconds;   // rank 0's wall time (the summary's only figure that is not a result)
    return all;
}

}  // namespace moelab::cli
