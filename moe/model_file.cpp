#include "moe/model_file.hpp"

#include <cmath>
#include <fstream>
#include <set>
#include <stdexcept>

#include "engine/finite_check.hpp"
#include "engine/npz.hpp"

namespace moelab {

namespace {

constexpr long double kMaxParameters = 1099511627776.0L;   // 2^40, the NPY reader's bound too

// Parameters of one Linear in -> out (with bias or not); long double holds every count below 2^64 exactly.
long double linear_params(std::int64_t in, std::int64_t out, bool bias = true) {
    return static_cast<long double>(in) * static_cast<long double>(out) + (bias ? static_cast<long double>(out) : 0.0L);
}

// An MoE layer dim -> out as MoELayer::create registers it: the router (and its noise projection) and E experts.
long double moe_layer_params(const ModelConfig& c, std::int64_t dim, std::int64_t out) {
    const long double router = linear_params(dim, c.experts) + (c.noisy ? linear_params(dim, c.experts, false) : 0.0L);
    const long double expert = c.hidden > 0 ? linear_params(dim, c.hidden) + linear_params(c.hidden, out) : linear_params(dim, out);
    return router + static_cast<long double>(c.experts) * expert;
}

// The "conventions" object; `where` names the file. Strict: unknown keys and values this moelab cannot honour throw.
ModelFileInfo conventions_from_json(const nlohmann::json& j, std::int64_t classes, const std::string& where) {
    auto fail = [&](const std::string& what) { throw std::runtime_error(where + ": conventions: " + what); };
    if (!j.is_object()) fail("expected a JSON object");
    static const std::set<std::string> known{"tie_rule", "input_scale", "input_domain", "class_names"};
    for (const auto& [key, _] : j.items())
        if (!known.count(key)) fail("unknown key '" + key + "'");
    ModelFileInfo info;
    if (j.value("tie_rule", nlohmann::json("lower-index")) != "lower-index")
        fail("key 'tie_rule' must be \"lower-index\" (top-k and argmax ties go to the lower index), got " + j.at("tie_rule").dump());
    if (j.contains("input_scale")) {
        const auto& s = j.at("input_scale");
        if (!s.is_number() || !std::isfinite(s.get<double>()) || !(s.get<double>() > 0.0))
            fail("key 'input_scale' must be a positive finite number, got " + s.dump());
        info.input.input_scale = s.get<double>();
    }
    if (j.contains("input_domain") && !j.at("input_domain").is_null()) {
        const auto& d = j.at("input_domain");
        if (!d.is_array() || d.size() != 2 || !d[0].is_number() || !d[1].is_number() ||
            !std::isfinite(d[0].get<double>()) || !std::isfinite(d[1].get<double>()) || !(d[0].get<double>() < d[1].get<double>()))
            fail("key 'input_domain' must be null or [lo, hi] with finite lo < hi, got " + d.dump());
        info.input.bounded = true;
        info.input.lo = d[0].get<double>();
        info.input.hi = d[1].get<double>();
    }
    if (j.contains("class_names")) {
        const auto& n = j.at("class_names");
        if (!n.is_array() || (!n.empty() && static_cast<std::int64_t>(n.size()) != classes))
            fail("key 'class_names' must be an array of " + std::to_string(classes) + " strings or empty");
        for (const auto& name : n) {
            if (!name.is_string()) fail("key 'class_names' must hold strings, got " + name.dump());
            info.class_names.push_back(name.get<std::string>());
        }
    }
    return info;
}

nlohmann::json parse_meta(const NpzArchive& archive, const std::string& path) {
    const NpyArray* entry = nullptr;
    for (const auto& a : archive.others) {
        if (a.name != kModelFileMetaEntry)
            throw std::runtime_error(path + ": entry '" + a.name + "' is not float64 (only '" + kModelFileMetaEntry + "' may be)");
        entry = &a;
    }
    if (!entry || entry->dtype != NpyDtype::uint8 || entry->shape.size() != 1)
        throw std::runtime_error(path + ": no '" + std::string(kModelFileMetaEntry) +
                                 "' entry (a 1-D uint8 array of JSON): not a self-describing moelab model file");
    nlohmann::json meta;
    try {
        meta = nlohmann::json::parse(entry->bytes);
    } catch (const nlohmann::json::exception&) {
        throw std::runtime_error(path + ": entry '" + std::string(kModelFileMetaEntry) + "' is not valid JSON");
    }
    if (!meta.is_object() || meta.value("format", nlohmann::json()) != kModelFileFormat)
        throw std::runtime_error(path + ": entry '" + std::string(kModelFileMetaEntry) + "': format is not '" + kModelFileFormat + "'");
    if (meta.value("version", nlohmann::json()) != kModelFileVersion)
        throw std::runtime_error(path + ": model file version " + meta.value("version", nlohmann::json()).dump() +
                                 " is not supported (expected " + std::to_string(kModelFileVersion) + ")");
    static const std::set<std::string> known{"format", "version", "model", "conventions", "data"};
    for (const auto& [key, _] : meta.items())
        if (!known.count(key)) throw std::runtime_error(path + ": entry '" + std::string(kModelFileMetaEntry) + "': unknown key '" + key + "'");
    if (!meta.contains("model")) throw std::runtime_error(path + ": entry '" + std::string(kModelFileMetaEntry) + "': no key 'model'");
    if (meta.contains("data") && !meta.at("data").is_string())
        throw std::runtime_error(path + ": entry '" + std::string(kModelFileMetaEntry) + "': key 'data' must be a string");
    return meta;
}

// Every value finite, before anything is loaded: a certificate of a model with a NaN weight would be no proof.
void require_finite(const std::vector<NamedTensor>& tensors, const std::string& path) {
    for (const auto& t : tensors) moelab::require_finite(t.tensor, t.name, path);
}

}  // namespace

nlohmann::json conventions_json(const ModelFileInfo& info) {
    nlohmann::json domain = info.input.bounded ? nlohmann::json::array({info.input.lo, info.input.hi}) : nlohmann::json();
    return {{"tie_rule", "lower-index"},
            {"input_scale", info.input.input_scale},
            {"input_domain", domain},
            {"class_names", info.class_names}};
}

std::int64_t parameter_count(const ModelConfig& c) {
    long double n = 0.0L;
    if (c.kind == ModelKind::moe_model) {
        n = moe_layer_params(c, c.input_dim, c.classes);
    } else {
        n = linear_params(c.input_dim, c.width) + linear_params(c.width, c.classes);
        const long double ffn = linear_params(c.width, c.hidden) + linear_params(c.hidden, c.width);
        const long double moe = moe_layer_params(c, c.width, c.width);
        for (std::int64_t b = 0; b < c.depth && n <= kMaxParameters; ++b) n += c.is_moe_block(b) ? moe : ffn;
    }
    if (n > kMaxParameters)
        throw std::invalid_argument("model config: the sizes ask for more than 2^40 parameters");
    return static_cast<std::int64_t>(n);
}

nlohmann::json model_file_meta(const ModelConfig& config, const ModelFileInfo& info) {
    nlohmann::json meta{{"format", kModelFileFormat},
                        {"version", kModelFileVersion},
                        {"model", to_json(config)},
                        {"conventions", conventions_json(info)}};
    if (!info.data_spec.empty()) meta["data"] = info.data_spec;
    return meta;
}

void write_model_file(const std::string& path, const Classifier& model, const ModelFileInfo& info) {
    write_npz(path, collect(model.params()), {npy_uint8(kModelFileMetaEntry, model_file_meta(model.config(), info).dump())});
}

ModelFile read_model_file(const std::string& path) {
    const NpzArchive archive = read_npz_archive(path);
    const nlohmann::json meta = parse_meta(archive, path);
    ModelConfig config;
    try {
        config = model_config_from_json(meta.at("model"));
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(path + ": entry '" + std::string(kModelFileMetaEntry) + "': " + e.what());
    }
    ModelFile out;
    out.info = conventions_from_json(meta.value("conventions", nlohmann::json::object()), config.classes, path);
    out.info.data_spec = meta.value("data", "");
    // Bound the allocation by the file: the config must ask for exactly the parameters the file holds.
    std::int64_t held = 0;
    for (const auto& t : archive.tensors) held += t.tensor.numel();
    std::int64_t wanted = 0;
    try {
        wanted = parameter_count(config);
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
    if (wanted != held)
        throw std::runtime_error(path + ": the model config needs " + std::to_string(wanted) + " parameters, the file holds " +
                                 std::to_string(held));
    require_finite(archive.tensors, path);
    try {
        out.model = std::make_unique<Classifier>(config);
    } catch (const std::invalid_argument& e) {   // a config validate() lets through but the layers refuse
        throw std::runtime_error(path + ": entry '" + std::string(kModelFileMetaEntry) + "': " + e.what());
    }
    Checkpoint params;
    params.tensors = archive.tensors;
    load_params(params, out.model->params(), path);
    return out;
}

bool is_npz_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    return in.read(magic, 4) && std::string(magic, 4) == std::string("PK\x03\x04", 4);
}

}  // namespace moelab
