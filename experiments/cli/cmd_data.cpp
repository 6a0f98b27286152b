// moelab data --export FILE.npz: a data set's samples exactly as a model sees them (scaled, in test-sample
// order; synthetic clusters included), for outside tools: "x" [N, D] float64, "y" [N] int64 labels and
// "__moelab__", a uint8 array of JSON {"format": "moelab-data", "version": 1, "data": spec, "split": ...,
// "conventions": {input_scale, input_domain, class_names, tie_rule}} (docs/model-format.md).
#include <cstdio>
#include <memory>

#include "engine/npz.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/io/data_spec.hpp"
#include "experiments/cli/flag_values.hpp"
#include "experiments/io/model_file_io.hpp"

namespace moelab::cli {

namespace {

struct DataFlags {
    std::string data, out, split = "test";
    std::int64_t samples = kAllCount;
};

void run_data(const DataFlags& f) {
    if (f.split != "test" && f.split != "train")
        throw std::invalid_argument("--split: expected test or train, got '" + f.split + "'");
    const std::int64_t samples = count_flag("--samples", f.samples);
    const bool test = f.split == "test";
    const DataSplits d = load_data(f.data, test ? 0 : samples, test ? samples : 0);
    const Dataset& set = test ? d.test : d.train;
    const std::vector<std::int64_t> labels(set.y.begin(), set.y.end());
    const nlohmann::json meta{{"format", "moelab-data"},
                              {"version", 1},
                              {"data", f.data},
                              {"split", f.split},
                              {"conventions", conventions_json(data_conventions(d, f.data))}};
    write_npz(f.out, {{"x", set.x}}, {npy_int64("y", labels), npy_uint8(kModelFileMetaEntry, meta.dump())});
    std::printf("wrote %s: %lld %s samples of '%s', x [%lld, %lld], y [%lld]\n", f.out.c_str(),
                static_cast<long long>(set.size()), f.split.c_str(), f.data.c_str(), static_cast<long long>(set.size()),
                static_cast<long long>(set.dim()), static_cast<long long>(set.size()));
}

}  // namespace

void add_data_command(CLI::App& app, int& exit_code) {
    auto f = std::make_shared<DataFlags>();
    auto* sub = app.add_subcommand("data", "export a data set's samples as the model sees them (.npz)");
    sub->add_option("--data", f->data, "data set (fashion-mnist or clusters:K=..,d=..)")->required();
    sub->add_option("--export", f->out, "output .npz: x [N, D] float64, y [N] int64, __moelab__ JSON")->required();
    sub->add_option("--split", f->split, "test or train")->capture_default_str();
    sub->add_option("--samples", f->samples, "the first N samples of the split (default: all)");
    sub->callback([f, &exit_code] {
        run_data(*f);
        exit_code = 0;
    });
}

}  // namespace moelab::cli
