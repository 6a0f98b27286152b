// Progress for long work: on a terminal, a bar redrawn in place with rate and ETA; otherwise (logs,
// CI) a quiet line at most every 10% so that logs stay short. Writes to stderr.
#pragma once

#include <chrono>
#include <string>

namespace moelab::cli {

class Progress {
public:
    Progress(std::string label, long total, std::string unit = "steps");
    // Reports `done` of total; `note` is appended (e.g. "loss 0.532").
    void update(long done, const std::string& note = "");
    void finish(const std::string& note = "");

private:
    std::string label_, unit_;
    long total_;
    int last_decile_ = -1;
    bool tty_;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace moelab::cli
