#include "experiments/cli/threads_flag.hpp"

#include <stdexcept>
#include <string>

#include "engine/parallel.hpp"

namespace moelab::cli {

void apply_threads_flag(int threads) {
    if (threads == kThreadsUnset) return;
    if (threads < 1 || threads > kMaxThreads)
        throw std::invalid_argument("--threads: must be in [1, " + std::to_string(kMaxThreads) + "], got " + std::to_string(threads));
    set_threads(threads);
}

}  // namespace moelab::cli
