#include "experiments/bench_spawn.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

extern char** environ;

namespace moelab::bench {

namespace {

// The environment with `extra` added; an extra NAME replaces the inherited one.
std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
    std::vector<std::string> env(extra);
    for (char** e = environ; *e; ++e) {
        const char* eq = std::strchr(*e, '=');
        const std::size_t name_len = eq ? static_cast<std::size_t>(eq - *e) + 1 : std::strlen(*e);
        bool replaced = false;
        for (const auto& x : extra) replaced |= x.compare(0, name_len, *e, name_len) == 0;
        if (!replaced) env.emplace_back(*e);
    }
    return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> p;
    for (auto& s : strings) p.push_back(s.data());
    p.push_back(nullptr);
    return p;
}

}  // namespace

int run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env, std::string* out, bool quiet) {
    std::vector<std::string> args(argv), vars = environment_with(env);
    std::vector<char*> argp = pointers(args), envp = pointers(vars);
    int pipe_fds[2] = {-1, -1};
    if (out && ::pipe(pipe_fds) != 0) return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (out) {
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
        posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
    }
    if (quiet) posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int started = posix_spawnp(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (out) {
        ::close(pipe_fds[1]);
        if (started == 0) {
            char buf[4096];
            for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) out->append(buf, static_cast<std::size_t>(n));
        }
        ::close(pipe_fds[0]);
    }
    if (started != 0) return -1;
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

}  // namespace moelab::bench
