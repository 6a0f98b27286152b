// moelab command line: drawing a figure with gnuplot, without a shell.
//
// The figure scripts (figures/*.gp) read the variable `dir` and write DIR/<name>.png. gnuplot is started
// from an argument vector (experiments/io/program_run.hpp), in the output directory as its working directory, with
// dir='.': no user string reaches a shell or gnuplot's command line (an --out of 'x$(touch pwned)' once
// ran the touch). The scripts are found beside the executable (BIN/../figures or BIN/figures, BIN from
// /proc/self/exe) and, failing that, in ./figures.
#pragma once

#include <string>

namespace moelab::cli {

// Absolute path of figures/<script>, or "" when it is nowhere to be found.
std::string find_figure_script(const std::string& script);

// Runs gnuplot on figures/<script> in `dir`. True when gnuplot ran and exited 0; false (saying why on
// stderr, prefixed by `who`) when gnuplot or the script is missing or gnuplot failed.
bool draw_figure(const std::string& who, const std::string& script, const std::string& dir);

}  // namespace moelab::cli
