// The self-describing model file (moe/model_file.hpp): every model kind round-trips with bit-identical
// logits and bytes, the parameter count is computed without allocating, and a hostile file (non-finite
// weights, another version, sizes that do not match, a tie rule we cannot honour) is refused naming the
// file and the entry.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <unistd.h>

#include "engine/atomic_file.hpp"
#include "engine/npz.hpp"
#include "moe/model_file.hpp"
#include "tests/gradcheck.hpp"
#include "tests/model_kinds.hpp"

#include "tests/temp_dir.hpp"

using namespace moelab;
namespace fs = std::filesystem;

namespace {

using moelab::testing::TempDir;

using moelab::testing::every_model_kind;

Tensor logits(const Classifier& m, const Tensor& x) {
    NoGradGuard no_grad;
    return m.forward(Var(x)).logits.value();
}

auto error_with(std::initializer_list<std::string> parts) {
    return [parts](const std::exception& e) {
        const std::string m = e.what();
        for (const auto& p : parts)
            if (m.find(p) == std::string::npos) {
                BOOST_TEST_MESSAGE("message '" << m << "' lacks '" << p << "'");
                return false;
            }
        return true;
    };
}

// A model file with this meta JSON and these tensors, written by hand.
void write_with_meta(const std::string& path, const std::vector<NamedTensor>& tensors, const nlohmann::json& meta) {
    write_npz(path, tensors, {npy_uint8(kModelFileMetaEntry, meta.dump())});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(model_file)

BOOST_AUTO_TEST_CASE(every_model_kind_round_trips_with_bit_identical_logits_and_bytes) {
    TempDir dir("model_file");
    ModelFileInfo info;
    info.input = InputConvention{255.0, true, 0.0, 1.0};
    info.class_names = {"a", "b", "c"};
    info.data_spec = "clusters:K=3,d=5,C=3";
    for (const ModelConfig& c : every_model_kind()) {
        Classifier model(c);
        write_model_file(dir / "m.npz", model, info);
        const ModelFile back = read_model_file(dir / "m.npz");
        BOOST_TEST(to_json(back.model->config()) == to_json(c));
        const Tensor x = moelab::testing::random_tensor({9, c.input_dim}, 3);
        BOOST_TEST(logits(*back.model, x).bitwise_equal(logits(model, x)), to_json(c).dump());
        BOOST_TEST(back.info.input.input_scale == 255.0);
        BOOST_TEST((back.info.input.bounded && back.info.input.lo == 0.0 && back.info.input.hi == 1.0));
        BOOST_TEST(back.info.class_names == info.class_names);
        BOOST_TEST(back.info.data_spec == info.data_spec);
        write_model_file(dir / "again.npz", *back.model, back.info);
        BOOST_TEST(read_file(dir / "again.npz") == read_file(dir / "m.npz"), "same bytes: " << to_json(c).dump());
    }
}

BOOST_AUTO_TEST_CASE(parameter_count_equals_the_parameters_the_model_registers) {
    for (const ModelConfig& c : every_model_kind()) BOOST_TEST(parameter_count(c) == Classifier(c).params().numel(), to_json(c).dump());
    ModelConfig huge = every_model_kind()[1];
    huge.width = std::int64_t{1} << 38;   // over 2^41 parameters: refused before anything is allocated
    BOOST_CHECK_EXCEPTION(parameter_count(huge), std::invalid_argument, error_with({"2^40"}));
}

BOOST_AUTO_TEST_CASE(a_non_finite_weight_is_refused_naming_the_tensor) {
    TempDir dir("model_file");
    const Classifier model(every_model_kind()[1]);
    const nlohmann::json meta = model_file_meta(model.config(), {});
    for (const double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
        auto tensors = collect(model.params());
        tensors[4].tensor[2] = bad;
        write_with_meta(dir / "bad.npz", tensors, meta);
        BOOST_CHECK_EXCEPTION(read_model_file(dir / "bad.npz"), std::invalid_argument,
                              error_with({dir / "bad.npz", "'" + tensors[4].name + "'", "non-finite"}));
    }
}

BOOST_AUTO_TEST_CASE(other_versions_sizes_and_conventions_are_refused_naming_the_file) {
    TempDir dir("model_file");
    const Classifier model(every_model_kind()[1]);
    const auto tensors = collect(model.params());
    const nlohmann::json good = model_file_meta(model.config(), {});
    const std::string path = dir / "m.npz";
    auto refused = [&](const nlohmann::json& meta, std::initializer_list<std::string> parts) {
        write_with_meta(path, tensors, meta);
        BOOST_CHECK_EXCEPTION(read_model_file(path), std::runtime_error, error_with(parts));
    };
    nlohmann::json m = good;
    m["version"] = 2;
    refused(m, {path, "version 2", "expected 1"});
    m = good;
    m["format"] = "something-else";
    refused(m, {path, "format"});
    m = good;
    m["model"]["width"] = 8;   // another architecture than the tensors
    refused(m, {path, "parameters"});
    m = good;
    m["model"]["width"] = std::int64_t{1} << 40;   // a size no file could hold: refused before allocating
    refused(m, {path, "2^40"});
    m = good;
    m["model"]["routing_temperature"] = 2.0;   // a key this moelab does not know
    refused(m, {path, "routing_temperature"});
    m = good;
    m["conventions"]["tie_rule"] = "higher-index";
    refused(m, {path, "tie_rule"});
    m = good;
    m["conventions"]["input_domain"] = {1.0, 0.0};
    refused(m, {path, "input_domain"});
    m = good;
    m["conventions"]["class_names"] = {"only one"};
    refused(m, {path, "class_names"});
    // A config that validates but whose dense blocks have no hidden width (the layers refuse it): named too.
    m = good;
    m["model"] = {{"kind", "moe"}, {"input_dim", 2}, {"classes", 2}, {"width", 2}, {"depth", 2}, {"hidden", 0},
                  {"experts", 1}, {"top_k", 1}, {"moe_blocks", {1}}};
    write_with_meta(path, {{"x", Tensor(Shape{23}, 0.0)}}, m);   // 23: the parameters those sizes would count
    BOOST_CHECK_EXCEPTION(read_model_file(path), std::runtime_error, error_with({path, "__moelab__", "sizes must be positive"}));
    // Without the JSON entry, the file does not describe itself.
    write_npz(path, tensors);
    BOOST_CHECK_EXCEPTION(read_model_file(path), std::runtime_error, error_with({path, "__moelab__"}));
    // A mis-shaped tensor with the right total count is still refused, by name.
    auto swapped = tensors;
    swapped[0].tensor = Tensor(Shape{tensors[0].tensor.shape()[1], tensors[0].tensor.shape()[0]}, 0.0);
    write_with_meta(path, swapped, good);
    BOOST_CHECK_EXCEPTION(read_model_file(path), std::runtime_error, error_with({path, "'" + tensors[0].name + "'"}));
}

BOOST_AUTO_TEST_CASE(npz_archives_carry_uint8_and_int64_arrays_and_read_npz_names_them) {
    TempDir dir("model_file");
    const std::vector<NpyArray> others{npy_uint8("text", "hello"), npy_int64("labels", {3, -1, 1LL << 40})};
    write_npz(dir / "a.npz", {{"x", Tensor(Shape{2}, 1.5)}}, others);
    const NpzArchive back = read_npz_archive(dir / "a.npz");
    BOOST_REQUIRE(back.tensors.size() == 1u);
    BOOST_REQUIRE(back.others.size() == 2u);
    BOOST_TEST(back.others[0].bytes == "hello");
    BOOST_TEST((back.others[0].dtype == NpyDtype::uint8));
    BOOST_TEST(back.others[1].bytes == others[1].bytes);
    BOOST_TEST((back.others[1].dtype == NpyDtype::int64 && back.others[1].shape == std::vector<std::int64_t>{3}));
    BOOST_CHECK_EXCEPTION(read_npz(dir / "a.npz"), std::runtime_error, error_with({dir / "a.npz", "'text.npy'", "float64"}));
}

BOOST_AUTO_TEST_SUITE_END()
