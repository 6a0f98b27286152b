#include "experiments/gnuplot_run.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

extern char** environ;

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
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    std::string a0 = "gnuplot", a1 = "-e", a2 = "dir='.'", a3 = path;
    char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), nullptr};
    pid_t pid = 0;
    const int err = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) {
        std::fprintf(stderr, "%s: cannot run gnuplot (%s); no figure drawn\n", who.c_str(), std::strerror(err));
        return false;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "%s: gnuplot failed on figures/%s\n", who.c_str(), script.c_str());
        return false;
    }
    return true;
}

}  // namespace moelab::cli
