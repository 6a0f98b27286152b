#include "experiments/cli/loaded_model.hpp"

#include <stdexcept>

#include "experiments/cli/flag_values.hpp"
#include "experiments/io/model_file_io.hpp"
#include "experiments/io/run_lock.hpp"

namespace moelab::cli {

LoadedModel load_model_and_data(const std::string& ckpt, const std::string& data_spec, std::int64_t samples_flag) {
    const std::int64_t samples = count_flag("--samples", samples_flag);
    LoadedModel m;
    ModelFileInfo file_info;
    const bool model_file = is_npz_file(ckpt);
    m.saved = load_checkpoint_or_model_file(ckpt, &file_info);   // a model.npz: from moelab train or python/moelab_torch.py
    if (!model_file) verify_against_manifest(ckpt);   // not a checkpoint of an epoch whose metrics are not written yet
    if (data_spec.empty() && m.saved.data_spec.empty())
        throw std::invalid_argument("--data: " + ckpt + " does not say which data it was trained on; pass --data");
    m.data_spec = data_spec.empty() ? m.saved.data_spec : data_spec;
    m.data = load_data(m.data_spec, 0, samples);
    if (model_file) require_same_conventions(file_info, data_conventions(m.data, m.data_spec), ckpt, m.data_spec);
    if (m.data.test.dim() != m.model().config().input_dim)
        throw std::invalid_argument("--data: '" + m.data_spec + "' has dimension " + std::to_string(m.data.test.dim()) +
                                    ", the model in " + ckpt + " expects " + std::to_string(m.model().config().input_dim));
    m.domain = m.data.images ? kImageBox : Box{};
    return m;
}

}  // namespace moelab::cli
