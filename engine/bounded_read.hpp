// moelab engine: reading input files within stated limits.
//
// A path given by a user may name a directory, a device (/dev/zero never ends), a FIFO or a file larger
// than memory. These readers look at the file before reading it: read_prefix reads at most n bytes (so a
// format's magic can be checked before anything else), read_regular_file refuses anything but a regular
// file and anything larger than max_bytes, naming the limit. Errors are std::runtime_error naming the path (std::invalid_argument for require_memory).
#pragma once

#include <cstdint>
#include <string>

namespace moelab {

// At most n bytes from the start of the file (fewer if it is shorter). Refuses directories.
std::string read_prefix(const std::string& path, std::size_t n);
// The whole file; refuses directories, non-regular files and files above max_bytes ("<limit_name>").
std::string read_regular_file(const std::string& path, std::uint64_t max_bytes, const std::string& limit_name);

// Half of this machine's physical memory: the most one data structure read from a file or built from a
// flag may take. require_memory throws "<what> needs N MB, more than the limit of M MB (half of this
// machine's memory)".
std::uint64_t memory_limit_bytes();
void require_memory(std::uint64_t bytes, const std::string& what);

}  // namespace moelab
