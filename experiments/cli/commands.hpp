// The subcommands of `moelab`. Each add_*_command registers its flags on `app` and a callback that
// runs the job and stores its exit status in `exit_code`. Errors are thrown as exceptions with a
// one-line message naming the flag or file; moelab_main.cpp prints them.
#pragma once

#include <CLI/CLI.hpp>

namespace moelab::cli {

void add_info_command(CLI::App& app, int& exit_code);   // moelab info: version, threads, BLAS, data
void add_train_command(CLI::App& app, int& exit_code);  // moelab train: see cmd_train.cpp
void add_eval_command(CLI::App& app, int& exit_code);   // moelab eval: clean and OOD accuracy
void add_attack_command(CLI::App& app, int& exit_code); // moelab attack: adversarial attacks, per sample
void add_certify_command(CLI::App& app, int& exit_code);    // moelab certify: certified radii
void add_lipschitz_command(CLI::App& app, int& exit_code);  // moelab lipschitz: Lipschitz bounds
void add_check_command(CLI::App& app, int& exit_code);      // moelab check: certified <= exact <= attack
void add_repro_command(CLI::App& app, int& exit_code);      // moelab repro: the papers' claims, REPORT.md
void add_sweep_command(CLI::App& app, int& exit_code);      // moelab sweep: a grid of runs, over MPI ranks
void add_data_command(CLI::App& app, int& exit_code);       // moelab data: export a data set (.npz)

}  // namespace moelab::cli
