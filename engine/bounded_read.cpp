#include "engine/bounded_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace moelab {

namespace {

// Opens `path` for reading; throws naming it when it cannot be opened or is a directory.
int open_input(const std::string& path, struct stat& st) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw std::runtime_error(path + ": is a directory, expected a file");
    }
    return fd;
}

std::string read_up_to(int fd, std::size_t n, const std::string& path) {
    std::string out(n, '\0');
    std::size_t done = 0;
    while (done < n) {
        const ssize_t r = ::read(fd, out.data() + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            const int err = errno;
            ::close(fd);
            throw std::runtime_error("cannot read " + path + ": " + std::strerror(err));
        }
        if (r == 0) break;
        done += static_cast<std::size_t>(r);
    }
    out.resize(done);
    return out;
}

std::string megabytes(std::uint64_t bytes) { return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MB"; }

}  // namespace

std::string read_prefix(const std::string& path, std::size_t n) {
    struct stat st {};
    const int fd = open_input(path, st);
    std::string out = read_up_to(fd, n, path);
    ::close(fd);
    return out;
}

std::string read_regular_file(const std::string& path, std::uint64_t max_bytes, const std::string& limit_name) {
    struct stat st {};
    const int fd = open_input(path, st);
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw std::runtime_error(path + ": not a regular file (a device, pipe or socket)");
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > max_bytes) {
        ::close(fd);
        throw std::runtime_error(path + ": " + std::to_string(size) + " bytes, more than the limit of " +
                                    std::to_string(max_bytes) + " bytes (" + limit_name + ")");
    }
    // One byte more than the size: a file that grew while being read is refused, not truncated.
    std::string out = read_up_to(fd, static_cast<std::size_t>(size) + 1, path);
    ::close(fd);
    if (out.size() > size) throw std::runtime_error(path + ": changed size while being read");
    return out;
}

std::uint64_t memory_limit_bytes() {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return std::uint64_t{4} << 30;   // unknown: assume a small machine
    return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) / 2;
}

void require_memory(std::uint64_t bytes, const std::string& what) {
    const std::uint64_t limit = memory_limit_bytes();
    if (bytes > limit)
        throw std::invalid_argument(what + " needs " + megabytes(bytes) + ", more than the limit of " + megabytes(limit) +
                                    " (half of this machine's memory)");
}

}  // namespace moelab
