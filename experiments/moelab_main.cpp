// The `moelab` command: one CLI11 app with one subcommand per job. Each subcommand's flags and work
// live in experiments/cmd_<name>.cpp; this file wires them together and turns any error into one
// line on stderr and a non-zero exit.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "experiments/commands.hpp"

int main(int argc, char** argv) {
    CLI::App app{"moelab: deterministic Mixture-of-Experts robustness lab (float64, CPU)"};
    app.require_subcommand(1);
    int exit_code = 0;
    moelab::cli::add_info_command(app, exit_code);
    moelab::cli::add_train_command(app, exit_code);
    moelab::cli::add_eval_command(app, exit_code);
    moelab::cli::add_attack_command(app, exit_code);
    moelab::cli::add_certify_command(app, exit_code);
    moelab::cli::add_lipschitz_command(app, exit_code);
    moelab::cli::add_check_command(app, exit_code);
    moelab::cli::add_repro_command(app, exit_code);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moelab: error: %s\n", e.what());
        return 1;
    }
    return exit_code;
}
