// moelab engine: deterministic parallel loops.
//
// parallel_for(n, grain, f) calls f(i) for i in [0, n), split by OpenMP's static schedule. Use it only
// when each f(i) writes its own outputs and reads nothing another f(j) writes: then the result is the
// same for any thread count. Below `grain` iterations the loop stays on the calling thread (the cost
// of waking threads exceeds the work).
#pragma once

#include <cstdint>

namespace moelab {

// Waking the other threads for a loop is expensive on these machines (W3, an attack with ~780 parallel
// regions, ran 5-10 ms faster at 2 threads with threads that spin instead of sleep), comparable to an
// elementwise pass over tens of thousands of doubles. So loops smaller than that stay serial.
inline constexpr std::int64_t kElementGrain = 1 << 16;   // elementwise loops
inline constexpr std::int64_t kRowGrain = 64;            // loops over whole rows: at least this many rows
// The grain of a loop over rows of `cols` elements: as many rows as kElementGrain elements, at least
// kRowGrain.
inline std::int64_t row_grain(std::int64_t cols) {
    const std::int64_t c = cols > 0 ? cols : 1;
    const std::int64_t rows = (kElementGrain + c - 1) / c;
    return rows > kRowGrain ? rows : kRowGrain;
}

template <class F>
inline void parallel_for(std::int64_t n, std::int64_t grain, F&& f) {
#pragma omp parallel for schedule(static) if (n >= grain)
    for (std::int64_t i = 0; i < n; ++i) f(i);
}

// Number of threads OpenMP will use for a parallel region (1 without OpenMP).
int max_threads();
// Sets the OpenMP thread count for later parallel regions (n >= 1).
void set_threads(int n);

}  // namespace moelab
