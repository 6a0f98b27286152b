// libFuzzer target: the IDX readers (engine/idx.hpp), on raw bytes and on gzipped bytes (fuzz_inputs.hpp
// says which by the first byte). Run by `make fuzz`; seeds in tests/fuzz/corpus/fuzz_idx/.
#include "tests/fuzz/fuzz_inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const moelab::fuzz::ScratchFile scratch("idx");
    moelab::fuzz::run_ignoring_errors(moelab::fuzz::idx_calls(data, size, scratch.path));
    return 0;
}
