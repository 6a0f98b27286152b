#include "experiments/cli/flag_values.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace moelab::cli {

std::int64_t count_flag(const std::string& flag, std::int64_t value) {
    if (value == kAllCount) return -1;
    if (value < 1) throw std::invalid_argument(flag + ": must be >= 1, got " + std::to_string(value));
    return value;
}

std::string flag_number(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    std::ostringstream s;
    s.precision(17);
    s << v;
    return s.str();
}

void add_seed_checks(CLI::App& app) {
    const CLI::Validator non_negative(
        [](std::string& text) -> std::string {
            const auto first = text.find_first_not_of(" \t");
            if (first != std::string::npos && text[first] == '-') return "must be a non-negative integer, got " + text;
            return "";
        },
        "UINT");
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
        for (CLI::Option* opt : sub->get_options())
            if (opt->check_lname("seed")) opt->check(non_negative);
}

void reject_unknown_command(CLI::App& app, int argc, char** argv) {
    if (argc < 2 || argv[1][0] == '-') return;
    std::string names;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        if (sub->check_name(argv[1])) return;
        names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    throw std::invalid_argument("unknown command '" + std::string(argv[1]) + "' (expected one of " + names + ")");
}

}  // namespace moelab::cli
