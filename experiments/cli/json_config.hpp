// CLI11 config-file reader for `--config FILE`: a JSON object ({"experts": 8, "top-k": 2}) or TOML
// (experts = 8). Keys are flag names without the dashes; '_' and '-' are interchangeable. The format is
// told by the first non-blank character ('{' = JSON), so the file name does not matter.
#pragma once

#include <CLI/CLI.hpp>

namespace moelab::cli {

// Applies FILE's values to the options of `app` that the command line did not give (the command line
// wins). CLI11 2.1 reads config files for the top-level app only, so subcommands call this from their
// callback. Unknown keys, values of the wrong type and values that fail an option's check throw
// std::invalid_argument naming the file and the key.
void apply_config_file(CLI::App& app, const std::string& path);

class JsonOrTomlConfig : public CLI::Config {
public:
    std::string to_config(const CLI::App* app, bool default_also, bool write_description,
                          std::string prefix) const override;
    std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
};

}  // namespace moelab::cli
