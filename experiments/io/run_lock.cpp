#include "experiments/io/run_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "engine/atomic_file.hpp"

namespace moelab::cli {

namespace {

namespace fs = std::filesystem;

// NAME.tmp.PID: a temporary of write_file_atomic that a killed process left behind.
bool is_stale_temporary(const std::string& name) {
    const auto at = name.rfind(".tmp.");
    if (at == std::string::npos || at + 5 == name.size()) return false;
    for (std::size_t i = at + 5; i < name.size(); ++i)
        if (name[i] < '0' || name[i] > '9') return false;
    return true;
}

nlohmann::json file_record(const std::string& path) {
    const std::string bytes = read_file(path);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (std::size_t at = 0; at < bytes.size(); at += 1u << 30) {
        const auto n = static_cast<uInt>(std::min<std::size_t>(bytes.size() - at, 1u << 30));
        crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), n);
    }
    return {{"bytes", bytes.size()}, {"crc32", static_cast<std::uint32_t>(crc)}};
}

}  // namespace

RunLock::RunLock(const std::string& dir) {
    const std::string path = dir + "/.moelab.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error("--out " + dir + ": cannot create the lock " + path + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(fd_);
        if (err == EWOULDBLOCK)
            throw std::runtime_error("--out " + dir + ": another moelab train is running in this directory (" + path +
                                        " is locked); wait for it or choose another --out");
        throw std::runtime_error("--out " + dir + ": cannot lock " + path + ": " + std::strerror(err));
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.is_regular_file(ec) && is_stale_temporary(entry.path().filename().string())) fs::remove(entry.path(), ec);
}

RunLock::~RunLock() {
    if (fd_ >= 0) ::close(fd_);   // closing the descriptor releases the flock
}

void write_manifest(const std::string& dir, int epoch, const std::vector<std::string>& names) {
    nlohmann::json files = nlohmann::json::object();
    for (const auto& name : names) files[name] = file_record(dir + "/" + name);
    write_file_atomic(dir + "/" + kManifestName, nlohmann::json{{"epoch", epoch}, {"files", files}}.dump(2) + "\n");
}

void verify_against_manifest(const std::string& path) {
    const fs::path p(path), manifest = (p.parent_path().empty() ? fs::path(".") : p.parent_path()) / kManifestName;
    std::error_code ec;
    if (!fs::is_regular_file(manifest, ec)) return;
    nlohmann::json m;
    try {
        m = nlohmann::json::parse(read_file(manifest.string()));
    } catch (const nlohmann::json::exception&) {
        throw std::runtime_error(manifest.string() + ": not valid JSON (the run directory is damaged)");
    }
    const std::string name = p.filename().string();
    if (!m.is_object() || !m.contains("files") || !m["files"].is_object() || !m["files"].contains(name)) return;
    if (file_record(path) != m["files"][name])
        throw std::runtime_error(path + ": does not match " + manifest.string() + " (epoch " + m.value("epoch", nlohmann::json()).dump() +
                                 "): its run is writing a new epoch or was killed mid-epoch; wait, or resume it with train --resume");
}

}  // namespace moelab::cli
