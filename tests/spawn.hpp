// Running an outside program from a test with an argument vector (posix_spawn): no shell sees any part of
// the command, so paths with quotes, spaces or $(...) are passed as they are.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace test_spawn {

// Runs argv[0] (looked up on PATH unless it holds a '/') with argv, in `cwd` (empty: the test's own), its
// stdout and stderr into the files `out` and `err` (empty: the test's own, inherited). The exit status, or -1 when the
// program could not be started or did not exit normally.
inline int run(const std::vector<std::string>& argv, const std::string& cwd = "", const std::string& out = "",
               const std::string& err = "") {
    std::vector<std::string> args(argv);
    std::vector<char*> ptrs;
    for (auto& a : args) ptrs.push_back(a.data());
    ptrs.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    const int flags = O_WRONLY | O_CREAT | O_TRUNC;
    if (!out.empty()) posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), flags, 0644);
    if (!err.empty()) posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(), flags, 0644);
    pid_t pid = 0;
    const int started = posix_spawnp(&pid, ptrs[0], &actions, nullptr, ptrs.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (started != 0) return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

// True when `program` is an executable file in a directory of PATH.
inline bool on_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "");
    for (std::string dir; std::getline(dirs, dir, ':');)
        if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    return false;
}

}  // namespace test_spawn
