// One run of `moelab sweep`: its stages (train, then attack and certify on the trained model) into a
// folder, and the run's row of results.csv. In-process: the same library calls as `moelab train`,
// `moelab attack` (theory/attacks/attack_harness.hpp run_attack) and `moelab certify` (theory/ certify functions).
//
// Files in the folder: run.json (what the run is), model.ckpt and metrics.json (train), attack.csv and
// attack.json (attack), certify.csv (certify), result.json (the row: {"columns": [...], "values": [...]}).
// Every value in the row is deterministic (no times), formatted as JSON formats doubles (shortest text that
// reads back to the same bits), so results.csv is the same bytes on any number of ranks and threads.
#pragma once

#include <string>
#include <vector>

#include "experiments/io/data_spec.hpp"
#include "experiments/sweep/sweep_grid.hpp"

namespace moelab::cli {

struct RunRow {
    std::vector<std::string> columns, values;
};

// The result columns of a grid's stages, after "run", the vary keys and "seed".
std::vector<std::string> stage_columns(const SweepGrid& grid);

// Runs every stage of `run` into `dir` (which exists and is empty) and writes result.json there.
// `data` is the grid's data with the run's model dimensions already in run.model.
RunRow run_stages(const SweepGrid& grid, const SweepRun& run, const DataSplits& data, const std::string& dir);

// Checks the stage settings against the model of `run` (attack flags that need the model); throws
// std::invalid_argument naming the grid file and key.
void check_stages(const SweepGrid& grid, const SweepRun& run, bool images);

}  // namespace moelab::cli
