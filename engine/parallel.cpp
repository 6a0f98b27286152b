#include "engine/parallel.hpp"

#include <omp.h>

#include <stdexcept>
#include <string>

namespace moelab {

int max_threads() { return omp_get_max_threads(); }

void set_threads(int n) {
    if (n < 1) throw std::invalid_argument("threads: expected at least 1, got " + std::to_string(n));
    omp_set_num_threads(n);
}

}  // namespace moelab
