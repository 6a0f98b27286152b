// libFuzzer target: read_checkpoint (engine/checkpoint.hpp) and read_npz (engine/npz.hpp), chosen by the
// first byte (fuzz_inputs.hpp). Run by `make fuzz`; seeds in tests/fuzz/corpus/fuzz_checkpoint/.
#include "tests/fuzz/fuzz_inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const moelab::fuzz::ScratchFile scratch("checkpoint");
    moelab::fuzz::run_ignoring_errors(moelab::fuzz::checkpoint_calls(data, size, scratch.path));
    return 0;
}
