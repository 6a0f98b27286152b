#include <optional>

#include "experiments/cluster/byte_records.hpp"
#include "experiments/io/progress.hpp"
#include "experiments/cluster/sample_split.hpp"
#include "experiments/cluster/split_runs.hpp"

namespace moelab::cli {

namespace {

void pack(ByteWriter& w, const CheckRow& r) {
    w.put(r.index);
    w.put(r.label);
    w.put(r.clean_pred);
    w.put(r.certified);
    w.put(r.exact);
    w.put(r.exact_status);
    w.put(r.exact_lower);
    w.put(r.attack);
    w.put(r.attack_name);
    w.put(r.smoothing);
    w.put(r.p2_printed);
    w.put(r.p2_sound);
    w.put(r.p2_status);
    w.put(r.route_stable);
    w.put(r.violations);
    w.put(r.naive_violations);
    w.put(r.p2_violations);
    w.put(r.load_dependent);
}

CheckRow unpack(ByteReader& b) {
    CheckRow r;
    r.index = b.get<std::int64_t>();
    r.label = b.get<int>();
    r.clean_pred = b.get<int>();
    r.certified = b.get_vector<double>();
    r.exact = b.get<double>();
    r.exact_status = b.get_string();
    r.exact_lower = b.get<double>();
    r.attack = b.get<double>();
    r.attack_name = b.get_string();
    r.smoothing = b.get<double>();
    r.p2_printed = b.get<double>();
    r.p2_sound = b.get<double>();
    r.p2_status = b.get_string();
    r.route_stable = b.get<double>();
    r.violations = b.get_vector<std::string>();
    r.naive_violations = b.get_vector<std::string>();
    r.p2_violations = b.get_vector<std::string>();
    r.load_dependent = b.get<bool>();
    return r;
}

}  // namespace

CheckReport check_on_ranks(const Classifier& model, const Dataset& data, const CheckOptions& options,
                           const std::string& label) {
    const SampleBlock block = my_block(data.size());
    std::optional<Progress> bar;
    if (is_rank0()) bar.emplace(block_label(label, block.begin, block.end, data.size()), static_cast<long>(block.size()), "samples");
    CheckReport mine;
    run_on_every_rank([&] {
        CheckOptions o = options;
        o.rows_begin = block.begin;
        o.rows_end = block.end;
        mine = run_check(model, data, o, [&](long done, long) {
            if (bar) bar->update(done);
        });
    });
    if (bar) bar->finish();
    if (!split_over_ranks()) return mine;
    ByteWriter w;
    for (const CheckRow& r : mine.rows) pack(w, r);
    CheckReport all;
    for (const std::string& part : gather_records(w.bytes())) {
        ByteReader b(part);
        while (!b.done()) all.rows.push_back(unpack(b));
    }
    all.route_source = mine.route_source;   // properties of the model, the same on every rank
    all.p2_compared = mine.p2_compared;
    count_violations(all);
    all.seconds = mine.seconds;   // rank 0's wall time (the summary's only figure that is not a result)
    return all;
}

}  // namespace moelab::cli
