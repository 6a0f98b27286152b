// A scratch directory for one test case: /tmp/moelab_<tag>_<pid>, made on construction, removed with all it
// holds on destruction.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace moelab::testing {

struct TempDir {
    std::string path;
    explicit TempDir(const std::string& tag) : path("/tmp/moelab_" + tag + "_" + std::to_string(::getpid())) {
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string operator/(const std::string& name) const { return path + "/" + name; }
};

}  // namespace moelab::testing
