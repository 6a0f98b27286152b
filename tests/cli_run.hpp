// Running the moelab binary from a test, alone or under mpirun (tests/run_tests.sh sets MOELAB_BIN and,
// when MPI is usable, MOELAB_MPIRUN).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "engine/atomic_file.hpp"
#include "experiments/io/program_run.hpp"

namespace cli_run {

struct Outcome {
    int code = 0;
    std::string out, err;
};

inline const char* binary() { return std::getenv("MOELAB_BIN"); }
inline const char* mpirun() { return std::getenv("MOELAB_MPIRUN"); }

// The words of `text`, split at blanks (test arguments and MOELAB_MPIRUN hold no quoted blanks).
inline std::vector<std::string> words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> w;
    for (std::string s; in >> s;) w.push_back(s);
    return w;
}

// Runs `moelab ARGS` (ranks = 0: without mpirun; otherwise under mpirun -np ranks) with stdout and stderr
// captured in `dir`. The words go to the program as an argument vector: no shell reads them.
inline Outcome run(const std::string& args, const std::filesystem::path& dir, int ranks = 0) {
    const std::filesystem::path out = dir / "stdout.txt", err = dir / "stderr.txt";
    std::vector<std::string> argv;
    if (ranks > 0) {
        argv = words(mpirun());
        argv.push_back("-np");
        argv.push_back(std::to_string(ranks));
    }
    argv.push_back(binary());
    for (auto& w : words(args)) argv.push_back(std::move(w));
    Outcome o;
    o.code = moelab::cli::run_program(argv, {.stdout_path = out.string(), .stderr_path = err.string()});
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
