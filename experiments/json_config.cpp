#include "experiments/json_config.hpp"

#include <nlohmann/json.hpp>

#include <sstream>

namespace moelab::cli {

std::string JsonOrTomlConfig::to_config(const CLI::App* app, bool default_also, bool write_description,
                                        std::string prefix) const {
    return CLI::ConfigTOML().to_config(app, default_also, write_description, std::move(prefix));
}

std::vector<CLI::ConfigItem> JsonOrTomlConfig::from_config(std::istream& input) const {
    std::stringstream buffer;
    buffer << input.rdbuf();
    const std::string text = buffer.str();
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || text[first] != '{') {
        std::istringstream toml(text);
        return CLI::ConfigTOML().from_config(toml);
    }
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw CLI::ConversionError("--config: not valid JSON (" + std::string(e.what()) + ")");
    }
    auto scalar = [](const nlohmann::json& v) -> std::string {
        if (v.is_string()) return v.get<std::string>();
        if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
        if (v.is_number() || v.is_null()) return v.dump();
        throw CLI::ConversionError("--config: nested objects are not supported");
    };
    std::vector<CLI::ConfigItem> result;
    for (const auto& [key, value] : j.items()) {
        CLI::ConfigItem item;
        item.name = key;
        for (char& c : item.name)
            if (c == '_') c = '-';
        if (value.is_array())
            for (const auto& v : value) item.inputs.push_back(scalar(v));
        else
            item.inputs.push_back(scalar(value));
        result.push_back(std::move(item));
    }
    return result;
}

}  // namespace moelab::cli
