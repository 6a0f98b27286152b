#include "experiments/io/output_paths.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace moelab::cli {

namespace {

namespace fs = std::filesystem;

// Creates and removes a file in `dir`: the only test of writability that also holds for root and for
// read-only mounts (access(2) answers for the real user and ignores mount flags).
void probe_writable(const std::string& flag, const std::string& out, const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0)
        throw std::invalid_argument(flag + " " + out + ": directory " + dir + " does not exist");
    if (!S_ISDIR(st.st_mode)) throw std::invalid_argument(flag + " " + out + ": " + dir + " is not a directory");
    const std::string probe = dir + "/.moelab-write-probe." + std::to_string(::getpid());
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw std::invalid_argument(flag + " " + out + ": cannot create files in " + dir + ": " + std::strerror(errno));
    ::close(fd);
    ::unlink(probe.c_str());
}

void refuse_inputs(const std::string& flag, const std::string& out, const std::vector<NamedPath>& inputs) {
    for (const auto& in : inputs)
        if (!in.path.empty() && same_file(out, in.path))
            throw std::invalid_argument(flag + " " + out + ": is the input " + in.flag + " " + in.path +
                                        "; refusing to overwrite an input");
}

}  // namespace

bool same_file(const std::string& a, const std::string& b) {
    struct stat sa {}, sb {};
    if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void require_output_file(const std::string& flag, const std::string& out, const std::vector<NamedPath>& inputs) {
    if (out.empty()) throw std::invalid_argument(flag + ": empty path");
    struct stat st {};
    if (::stat(out.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        throw std::invalid_argument(flag + " " + out + ": is a directory, expected a file path");
    refuse_inputs(flag, out, inputs);
    const fs::path parent = fs::path(out).parent_path();
    probe_writable(flag, out, parent.empty() ? "." : parent.string());
}

namespace {

std::vector<std::string>& created_dirs() {
    static std::vector<std::string> dirs;
    return dirs;
}

}  // namespace

void remove_created_empty_dirs() {
    std::error_code ec;
    for (auto it = created_dirs().rbegin(); it != created_dirs().rend(); ++it)
        if (fs::is_directory(*it, ec) && fs::is_empty(*it, ec)) fs::remove(*it, ec);
    created_dirs().clear();
}

void require_output_dir(const std::string& flag, const std::string& dir, const std::vector<std::string>& names,
                        const std::vector<NamedPath>& inputs) {
    if (dir.empty()) throw std::invalid_argument(flag + ": empty path");
    std::error_code ec;
    std::vector<std::string> missing;   // dir and its ancestors that do not exist yet, deepest first
    for (fs::path p = fs::path(dir).lexically_normal(); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
        missing.push_back(p.string());
        if (p == p.parent_path()) break;
    }
    fs::create_directories(dir, ec);
    if (ec) throw std::invalid_argument(flag + " " + dir + ": cannot create the directory: " + ec.message());
    created_dirs().insert(created_dirs().end(), missing.rbegin(), missing.rend());
    for (const auto& name : names) refuse_inputs(flag, dir + "/" + name, inputs);
    probe_writable(flag, dir, dir);
}

}  // namespace moelab::cli
