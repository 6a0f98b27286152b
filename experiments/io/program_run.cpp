#include "experiments/io/program_run.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

extern char** environ;

namespace moelab::cli {

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

void redirect(posix_spawn_file_actions_t& actions, int fd, const std::string& path) {
    if (!path.empty()) posix_spawn_file_actions_addopen(&actions, fd, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

void read_all(int fd, std::string& out) {
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR);)
        if (n > 0) out.append(buf, static_cast<std::size_t>(n));
}

}  // namespace

int run_program(const std::vector<std::string>& argv, const ProgramIo& io) {
    if (argv.empty()) return -1;
    std::vector<std::string> args(argv), vars = environment_with(io.env);
    std::vector<char*> argp = pointers(args), envp = pointers(vars);
    int pipe_fds[2] = {-1, -1};
    if (io.captured_stdout && ::pipe(pipe_fds) != 0) return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!io.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, io.cwd.c_str());
    if (io.captured_stdout) {
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
        posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
    } else {
        redirect(actions, STDOUT_FILENO, io.stdout_path);
    }
    redirect(actions, STDERR_FILENO, io.stderr_path);
    pid_t pid = 0;
    const int started = posix_spawnp(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (io.captured_stdout) {
        ::close(pipe_fds[1]);
        if (started == 0) read_all(pipe_fds[0], *io.captured_stdout);
        ::close(pipe_fds[0]);
    }
    if (started != 0) {
        errno = started;
        return -1;
    }
    int status = 0;
    pid_t waited;
    while ((waited = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    if (waited != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

bool on_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "");
    for (std::string dir; std::getline(dirs, dir, ':');)
        if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    return false;
}

}  // namespace moelab::cli
