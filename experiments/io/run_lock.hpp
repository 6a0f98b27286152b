// moelab command line: one training run per output directory, and an epoch's files as one commit.
//
// Two `train` runs on one --out once both exited 0, leaving model.ckpt, model.npz and metrics.json of
// different runs. RunLock takes an exclusive flock(2) on DIR/.moelab.lock for the life of the run (the
// kernel releases it when the process dies, so a killed run leaves no stale lock). While holding it, the
// temporary files of killed runs (NAME.tmp.PID, engine/atomic_file.hpp) are removed.
//
// A run's files are updated one after another, so a reader could see the checkpoint of epoch 11 with the
// metrics of epoch 10. The manifest DIR/manifest.json is written last, naming the epoch and the size and
// CRC-32 of each file; verify_against_manifest lets a reader check that the file it read is the one the
// manifest names (a mismatch: the run is still writing, or was killed mid-epoch and must be resumed).
#pragma once

#include <string>
#include <vector>

namespace moelab::cli {

class RunLock {
public:
    // Throws std::runtime_error "--out DIR: another moelab train is running in this directory ..." (one rank's
    // error: under mpirun it ends the job rather than leaving the other ranks waiting).
    explicit RunLock(const std::string& dir);
    ~RunLock();
    RunLock(const RunLock&) = delete;
    RunLock& operator=(const RunLock&) = delete;

private:
    int fd_ = -1;
};

inline constexpr const char* kManifestName = "manifest.json";

// Writes DIR/manifest.json (atomically) naming `epoch` and the size and CRC-32 of DIR/<name> for each name.
void write_manifest(const std::string& dir, int epoch, const std::vector<std::string>& names);
// If a manifest lies beside `path` and names its file, throws std::runtime_error unless `path` has the
// size and CRC-32 recorded there. Without a manifest (a copied checkpoint) there is nothing to check.
void verify_against_manifest(const std::string& path);

}  // namespace moelab::cli
