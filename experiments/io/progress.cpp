#include "experiments/io/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace moelab::cli {

Progress::Progress(std::string label, long total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void Progress::update(long done, const std::string& note) {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
    if (tty_) {
        if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
        last_draw_ = now;
        constexpr int kWidth = 30;
        const int filled = total_ > 0 ? static_cast<int>(kWidth * done / total_) : kWidth;
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.resize(kWidth, '.');
        std::fprintf(stderr, "\r%s [%s] %ld/%ld %s  %.1f %s/s  ETA %.0fs  %s\033[K", label_.c_str(), bar.c_str(), done,
                     total_, unit_.c_str(), rate, unit_.c_str(), eta, note.c_str());
        std::fflush(stderr);
        return;
    }
    const int decile = total_ > 0 ? static_cast<int>(10 * done / total_) : 10;
    if (decile == last_decile_ || decile == 10) return;
    last_decile_ = decile;
    if (decile > 0)
        std::fprintf(stderr, "%s: %ld/%ld %s, %.1f %s/s, ETA %.0fs %s\n", label_.c_str(), done, total_, unit_.c_str(), rate,
                     unit_.c_str(), eta, note.c_str());
}

void Progress::finish(const std::string& note) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (tty_) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr, "%s: done in %.1fs %s\n", label_.c_str(), elapsed, note.c_str());
}

}  // namespace moelab::cli
