// moelab command line: the --threads flag every command shares.
//
// OpenMP crashes (libgomp, SIGSEGV) when asked for 100000 threads, and 0 threads means nothing. Results do
// not depend on the count (engine/parallel.hpp), so a stated range costs nothing: 1 to kMaxThreads.
#pragma once

#include <limits>

namespace moelab::cli {

inline constexpr int kMaxThreads = 256;
inline constexpr int kThreadsUnset = std::numeric_limits<int>::min();   // flag not given: OpenMP's default

// Sets the thread count; throws std::invalid_argument "--threads: must be in [1, 256], got N" out of range.
void apply_threads_flag(int threads);

}  // namespace moelab::cli
