// libFuzzer target: a fuzzed checkpoint loaded into a model (load_model), then a forward pass and the
// Lipschitz, IBP and (bit 5) exact certificates on it, with non-finite or huge weights injected by bits 2-4
// of the first byte (fuzz_inputs.hpp). Run by `make fuzz`; seeds in tests/fuzz/corpus/fuzz_model/.
#include "tests/fuzz/fuzz_inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const moelab::fuzz::ScratchFile scratch("model");
    moelab::fuzz::run_ignoring_errors(moelab::fuzz::model_calls(data, size, scratch.path));
    return 0;
}
