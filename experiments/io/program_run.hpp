// Running an outside program (gnuplot, PyTorch, the benchmark's workers, and the tests' moelab runs) from an
// argument vector with posix_spawn: no shell sees any part of the command, so paths with quotes, spaces or
// $(...) reach the program as they are. The one way moelab and its tests start another process.
#pragma once

#include <string>
#include <vector>

namespace moelab::cli {

// Where the child runs and where its output goes; the defaults inherit ours.
struct ProgramIo {
    std::string cwd{};                       // working directory ("" : ours)
    std::string stdout_path{};               // stdout into this file, truncated ("" : inherited)
    std::string stderr_path{};               // stderr into this file, truncated ("" : inherited)
    std::string* captured_stdout = nullptr;  // stdout read into this string instead (stdout_path unused)
    std::vector<std::string> env{};          // "NAME=value" added to the inherited environment, replacing a NAME
};

// Runs argv[0] (looked up on PATH unless it holds a '/') with argv. The exit status, or -1 when the program
// could not be started (errno then says why) or did not exit normally.
int run_program(const std::vector<std::string>& argv, const ProgramIo& io = {});

// True when `program` is an executable file in a directory of PATH.
bool on_path(const std::string& program);

}  // namespace moelab::cli
