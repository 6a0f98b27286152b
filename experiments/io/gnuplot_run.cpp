#include "experiments/io/gnuplot_run.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "experiments/io/program_run.hpp"

namespace moelab::cli {

namespace {

namespace fs = std::filesystem;

fs::path executable_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : exe.parent_path();
}

}  // namespace

std::string find_figure_script(const std::string& script) {
    std::vector<fs::path> candidates;
    const fs::path bin = executable_dir();
    if (!bin.empty()) candidates = {bin / ".." / "figures" / script, bin / "figures" / script};
    candidates.push_back(fs::current_path() / "figures" / script);
    for (const auto& c : candidates) {
        std::error_code ec;
        if (fs::is_regular_file(c, ec)) return fs::weakly_canonical(c, ec).string();
    }
    return "";
}

bool draw_figure(const std::string& who, const std::string& script, const std::string& dir) {
    const std::string path = find_figure_script(script);
    if (path.empty()) {
        std::fprintf(stderr, "%s: figure script figures/%s not found beside the moelab binary nor in ./figures; no figure drawn\n",
                     who.c_str(), script.c_str());
        return false;
    }
    // The script's path is gnuplot's argument; `dir` is its working directory, never part of a command string.
    const int rc = run_program({"gnuplot", "-e", "dir='.'", path}, {.cwd = dir, .stdout_path = "/dev/null", .stderr_path = "/dev/null"});
    if (rc == -1) {
        std::fprintf(stderr, "%s: cannot run gnuplot (%s); no figure drawn\n", who.c_str(), std::strerror(errno));
        return false;
    }
    if (rc != 0) {
        std::fprintf(stderr, "%s: gnuplot failed on figures/%s\n", who.c_str(), script.c_str());
        return false;
    }
    return true;
}

}  // namespace moelab::cli
