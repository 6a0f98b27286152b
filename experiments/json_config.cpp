#include "experiments/json_config.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "experiments/config_keys.hpp"

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
        auto toml_items = CLI::ConfigTOML().from_config(toml);
        for (auto& item : toml_items)
            for (char& c : item.name)
                if (c == '_') c = '-';
        return toml_items;
    }
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw CLI::ConversionError("--config: not valid JSON (" + user_message(e) + ")");
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

void apply_config_file(CLI::App& app, const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::invalid_argument("--config: cannot read " + path);
    std::vector<CLI::ConfigItem> items;
    try {
        items = JsonOrTomlConfig().from_config(in);
    } catch (const CLI::Error& e) {
        throw std::invalid_argument("--config " + path + ": " + user_message(e));
    }
    for (const auto& item : items) {
        const std::string key = item.parents.empty() ? item.name : item.parents.front() + "." + item.name;
        if (!item.parents.empty() || item.name == "config")
            throw std::invalid_argument("--config " + path + ": unsupported key '" + key + "'");
        CLI::Option* opt = nullptr;
        try {
            opt = app.get_option("--" + item.name);
        } catch (const CLI::OptionNotFound&) {
            throw std::invalid_argument("--config " + path + ": unknown key '" + key + "' (keys are the flag names of '" +
                                        app.get_name() + "')");
        }
        if (opt->count() > 0) continue;   // given on the command line
        try {
            opt->add_result(item.inputs);
            opt->run_callback();
        } catch (const CLI::Error& e) {
            throw std::invalid_argument("--config " + path + ": key '" + key + "': " + user_message(e));
        }
    }
}

}  // namespace moelab::cli
