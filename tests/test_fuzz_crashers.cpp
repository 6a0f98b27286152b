// The fuzzing inputs kept in the repository, replayed through the parsers exactly as the libFuzzer
// targets run them (tests/fuzz/fuzz_inputs.hpp), here in the ordinary build: every seed
// (tests/fuzz/corpus/<target>/) and every crasher (tests/fuzz/crashers/<target>/) either parses or is
// refused with a std::exception that says something, and every crasher -- an input that once crashed
// a reader under the sanitizers -- is now refused by that reader. A crasher's file name starts with the
// parser it crashed: "read_checkpoint.empty_tensor_memcpy_null".
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_inputs.hpp"

using namespace moelab;
namespace fs = std::filesystem;

namespace {

struct SavedInput {
    std::string target;   // the fuzz target, named by the directory: fuzz_idx, fuzz_checkpoint, fuzz_config
    std::string path;
    std::string bytes;
};

// Every file under tests/fuzz/<kind>/<target>/, in a stable order.
std::vector<SavedInput> saved_inputs(const std::string& kind) {
    std::vector<SavedInput> out;
    for (const auto& target : fs::directory_iterator(fs::path("tests/fuzz") / kind)) {
        if (!target.is_directory()) continue;
        for (const auto& file : fs::directory_iterator(target.path())) {
            std::ifstream in(file.path(), std::ios::binary);
            out.push_back({target.path().filename().string(), file.path().string(),
                           std::string(std::istreambuf_iterator<char>(in), {})});
        }
    }
    std::sort(out.begin(), out.end(), [](const SavedInput& a, const SavedInput& b) { return a.path < b.path; });
    return out;
}

// The parser calls the input's fuzz target makes (writing the file they read to `scratch`).
std::vector<fuzz::ParserCall> calls_of(const SavedInput& input, const std::string& scratch) {
    const auto* data = reinterpret_cast<const std::uint8_t*>(input.bytes.data());
    if (input.target == "fuzz_idx") return fuzz::idx_calls(data, input.bytes.size(), scratch);
    if (input.target == "fuzz_checkpoint") return fuzz::checkpoint_calls(data, input.bytes.size(), scratch);
    if (input.target == "fuzz_config") return fuzz::config_calls(data, input.bytes.size());
    if (input.target == "fuzz_model") return fuzz::model_calls(data, input.bytes.size(), scratch);
    BOOST_FAIL(input.path << ": no fuzz target " << input.target);
    return {};
}

struct Outcome {
    bool threw = false;
    std::string message;   // what() of the std::exception thrown
};

// Anything but a std::exception escapes to Boost.Test and fails the case.
Outcome outcome_of(const fuzz::ParserCall& call) {
    try {
        call.run();
        return {};
    } catch (const std::exception& e) {
        return {true, e.what()};
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fuzz_crashers)

BOOST_AUTO_TEST_CASE(every_fuzz_target_has_seed_inputs) {
    for (const std::string target : {"fuzz_idx", "fuzz_checkpoint", "fuzz_config", "fuzz_model"}) {
        const fs::path dir = fs::path("tests/fuzz/corpus") / target;
        BOOST_TEST_REQUIRE(fs::is_directory(dir), dir << " is missing (tests run from the repository root)");
        BOOST_TEST(!fs::is_empty(dir), dir << " has no seeds");
    }
}

BOOST_AUTO_TEST_CASE(every_seed_and_crasher_parses_or_is_refused_with_a_message) {
    const fuzz::ScratchFile scratch("test");
    std::vector<SavedInput> inputs = saved_inputs("corpus");
    const std::vector<SavedInput> crashers = saved_inputs("crashers");
    inputs.insert(inputs.end(), crashers.begin(), crashers.end());
    for (const auto& input : inputs)
        for (const auto& call : calls_of(input, scratch.path)) {
            BOOST_TEST_CONTEXT(input.path << " through " << call.parser) {
                const Outcome o = outcome_of(call);
                BOOST_TEST((!o.threw || !o.message.empty()), "threw a std::exception with an empty message");
            }
        }
}

BOOST_AUTO_TEST_CASE(every_crasher_is_refused_by_the_reader_it_crashed) {
    const fuzz::ScratchFile scratch("test");
    for (const auto& input : saved_inputs("crashers")) {
        const std::string name = fs::path(input.path).filename().string();
        const std::string parser = name.substr(0, name.find('.'));
        BOOST_TEST_CONTEXT(input.path) {
            bool found = false;
            for (const auto& call : calls_of(input, scratch.path)) {   // in order: later calls may use earlier results
                const Outcome o = outcome_of(call);
                if (call.parser != parser) continue;
                found = true;
                BOOST_TEST(o.threw, parser << " accepted it");
                BOOST_TEST(!o.message.empty());
                BOOST_TEST_MESSAGE(input.path << ": " << o.message);
            }
            BOOST_TEST(found, "the file name names no parser of " << input.target);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
