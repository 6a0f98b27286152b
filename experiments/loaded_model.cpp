#include "experiments/loaded_model.hpp"

#include <stdexcept>

#include "experiments/flag_values.hpp"
#include "experiments/run_lock.hpp"

namespace moelab::cli {

LoadedModel load_model_and_data(const std::string& ckpt, const std::string& data_spec, std::int64_t samples_flag) {
    const std::int64_t samples = count_flag("--samples", samples_flag);
    LoadedModel m;
    m.saved = load_model(ckpt);
    verify_against_manifest(ckpt);   // not a checkpoint of an epoch whose metrics are not written yet
    m.data_spec = data_spec.empty() ? m.saved.data_spec : data_spec;
    m.data = load_data(m.data_spec, 0, samples);
    if (m.data.test.dim() != m.model().config().input_dim)
        throw std::invalid_argument("--data: '" + m.data_spec + "' has dimension " + std::to_string(m.data.test.dim()) +
                                    ", the model in " + ckpt + " expects " + std::to_string(m.model().config().input_dim));
    m.domain = m.data.images ? kImageBox : Box{};
    return m;
}

}  // namespace moelab::cli
