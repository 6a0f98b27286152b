#include "engine/float_semantics.hpp"

#include <cfloat>

namespace moelab {

FloatSemantics float_semantics() {
    FloatSemantics s;
    // Volatile loads: the compiler cannot fold these, so the arithmetic below is compiled exactly as
    // the library's own arithmetic is, under the same flags.
    // (1 + 2^-30)(1 - 2^-30) - 1 = -2^-60 exactly; rounded to double the product is 1, so two
    // roundings give 0 and a fused multiply-add gives -2^-60.
    volatile double a = 1.0 + 0x1p-30, b = 1.0 - 0x1p-30, c = -1.0;
    const double ma = a * b + c;
    s.unfused_multiply_add = ma == 0.0;
    volatile double smallest_normal = DBL_MIN;
    const double quarter = smallest_normal / 4.0;
    s.subnormals_kept = quarter != 0.0;
    return s;
}

}  // namespace moelab
