// libFuzzer target: the config parsers -- JSON into model_config_from_json (moe/model.hpp) and
// train_config_from_json (moe/train.hpp), and parse_cluster_spec (engine/clusters.hpp) on the raw text.
// Run by `make fuzz`; seeds in tests/fuzz/corpus/fuzz_config/.
#include "tests/fuzz/fuzz_inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    moelab::fuzz::run_ignoring_errors(moelab::fuzz::config_calls(data, size));
    return 0;
}
