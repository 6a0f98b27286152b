// moelab engine: the floating-point behaviour the bitwise guarantees rest on, checked at run time.
//
// The same bits across runs, thread counts and builds need (1) a * b + c evaluated as two rounded
// operations, never contracted into one fused multiply-add, and (2) subnormal numbers kept, not
// flushed to zero. GCC contracts by default whenever the target has FMA (in ISO mode too: -std=c++20
// does not stop it), e.g. under CXXFLAGS=-march=native, and -ffast-math links code that flushes
// subnormals. The Makefile passes -ffp-contract=off; these probes, compiled with the library's own
// flags, tell a test (and a user with a custom build) whether that held.
#pragma once

namespace moelab {

struct FloatSemantics {
    bool unfused_multiply_add = false;   // a * b + c rounds twice
    bool subnormals_kept = false;        // DBL_MIN / 4 is not 0
    bool ok() const { return unfused_multiply_add && subnormals_kept; }
};

FloatSemantics float_semantics();

}  // namespace moelab
