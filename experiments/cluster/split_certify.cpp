#include <optional>

#include "experiments/cluster/byte_records.hpp"
#include "experiments/cluster/mpi_session.hpp"
#include "experiments/io/progress.hpp"
#include "experiments/cluster/sample_split.hpp"
#include "experiments/cluster/split_runs.hpp"

namespace moelab::cli {

std::string block_label(const std::string& label, std::int64_t begin, std::int64_t end, std::int64_t total) {
    if (!split_over_ranks()) return label;
    return label + " (rank 0 of " + std::to_string(mpi::size()) + ": samples " + std::to_string(begin) + "-" +
           std::to_string(end - 1) + " of " + std::to_string(total) + ")";
}

namespace {

std::string pack(const MethodRadii& m) {
    ByteWriter w;
    w.put(m.radius);
    w.put(m.status);
    w.put(m.note);
    w.put(m.balls_tried);
    return w.bytes();
}

MethodRadii unpack(const std::string& bytes) {
    ByteReader r(bytes);
    MethodRadii m;
    m.radius = r.get_vector<double>();
    m.status = r.get_vector<std::string>();
    m.note = r.get_string();
    m.balls_tried = r.get<std::int64_t>();
    return m;
}

}  // namespace

MethodRadii certify_on_ranks(CertifyMethod method, const Classifier& model, const Dataset& test, Norm norm,
                             const CertifySettings& settings, const std::string& label) {
    const bool whole = !info(method).per_sample || !split_over_ranks();
    const SampleBlock block = whole ? SampleBlock{0, test.size()} : my_block(test.size());
    if (whole && !is_rank0()) return {};   // one batch: rank 0 computes it, as a 1-rank run does
    std::optional<Progress> bar;
    if (is_rank0()) bar.emplace(block_label(label, block.begin, block.end, test.size()), static_cast<long>(block.size()), "samples");
    const auto progress = [&](long done) {
        if (bar) bar->update(done);
    };
    if (whole) {
        MethodRadii m = certify_by_method(method, model, test, norm, settings, progress);
        bar->finish();
        return m;
    }
    MethodRadii mine;
    run_on_every_rank([&] {
        CertifySettings s = settings;
        s.first_index = settings.first_index + block.begin;
        mine = certify_by_method(method, model, subset(test, block.begin, block.size()), norm, s, progress);
    });
    if (bar) bar->finish();
    std::vector<MethodRadii> blocks;
    for (const std::string& part : gather_records(pack(mine))) blocks.push_back(unpack(part));
    return is_rank0() ? merge_method_radii(method, blocks, settings) : MethodRadii{};
}

}  // namespace moelab::cli
