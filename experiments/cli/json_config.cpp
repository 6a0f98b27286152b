#include "experiments/cli/json_config.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "engine/bounded_read.hpp"

#include "experiments/io/config_keys.hpp"

namespace moelab::cli {

namespace {

// A config is a few hundred bytes of flag values; anything near this size is a wrong path.
constexpr std::uint64_t kMaxConfigBytes = 1u << 20;

// Text only: a binary file's bytes would otherwise be echoed into a TOML parse error.
void require_text(const std::string& text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02x", c);
            throw CLI::ConversionError("not a text file (byte " + std::string(hex) + " at offset " + std::to_string(i) + ")");
        }
    }
}

// nlohmann keeps the last of two equal keys silently; a config that says a flag twice is refused.
nlohmann::json parse_json_no_duplicates(const std::string& text) {
    std::vector<std::set<std::string>> keys;
    nlohmann::json::parser_callback_t cb = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        using E = nlohmann::json::parse_event_t;
        if (event == E::object_start) keys.emplace_back();
        if (event == E::object_end && !keys.empty()) keys.pop_back();
        if (event == E::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
            throw CLI::ConversionError("duplicate key '" + parsed.get<std::string>() + "'");
        return true;
    };
    return nlohmann::json::parse(text, cb);
}

}  // namespace

std::string JsonOrTomlConfig::to_config(const CLI::App* app, bool default_also, bool write_description,
                                        std::string prefix) const {
    return CLI::ConfigTOML().to_config(app, default_also, write_description, std::move(prefix));
}

std::vector<CLI::ConfigItem> JsonOrTomlConfig::from_config(std::istream& input) const {
    std::stringstream buffer;
    buffer << input.rdbuf();
    std::string text = buffer.str();
    if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);   // a UTF-8 byte-order mark (some editors add one)
    require_text(text);
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
        j = parse_json_no_duplicates(text);
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
    std::string text;
    try {
        text = read_regular_file(path, kMaxConfigBytes, "a config file holds flag values");
    } catch (const std::exception& e) {
        throw std::invalid_argument("--config: " + std::string(e.what()));
    }
    std::istringstream in(text);
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
