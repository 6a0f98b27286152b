// Running the moelab binary from a test, alone or under mpirun (tests/run_tests.sh sets MOELAB_BIN and,
// when MPI is usable, MOELAB_MPIRUN).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include "engine/atomic_file.hpp"

namespace cli_run {

struct Outcome {
    int code = 0;
    std::string out, err;
};

inline const char* binary() { return std::getenv("MOELAB_BIN"); }
inline const char* mpirun() { return std::getenv("MOELAB_MPIRUN"); }

// Runs `moelab ARGS` (ranks = 0: without mpirun; otherwise under mpirun -np ranks) with stdout and stderr
// captured in `dir`.
inline Outcome run(const std::string& args, const std::filesystem::path& dir, int ranks = 0) {
    const std::filesystem::path out = dir / "stdout.txt", err = dir / "stderr.txt";
    std::string cmd = std::string(binary()) + " " + args;
    if (ranks > 0) cmd = std::string(mpirun()) + " -np " + std::to_string(ranks) + " " + cmd;
    const int rc = std::system((cmd + " > " + out.string() + " 2> " + err.string()).c_str());
    Outcome o;
    o.code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    o.out = moelab::read_file(out.string());
    o.err = moelab::read_file(err.string());
    return o;
}

inline std::filesystem::path fresh_dir(const std::string& name) {
    const auto d = std::filesystem::temp_directory_path() / ("moelab_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
}

// Non-empty lines of `text`.
inline int count_lines(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) n += !line.empty();
    return n;
}

}  // namespace cli_run
