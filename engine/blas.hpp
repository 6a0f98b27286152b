// moelab engine: the one door to OpenBLAS.
//
// Determinism: OpenBLAS's own threading gives different bits at different thread counts, and even
// one thread can give a row different bits depending on how many rows a call has (../shared/BENCH.md).
// So every product goes through gemm() below, which (1) keeps OpenBLAS single-threaded and (2)
// splits C into row blocks of kGemmRowBlock rows, a partition fixed by the shape alone. OpenMP runs
// the blocks in parallel; each block is the same single-threaded dgemm call whatever the thread
// count, so C has the same bits under OMP_NUM_THREADS=1, 2, 4.
//
// What is NOT guaranteed: batch-composition independence. A row's bits may depend on which block
// it falls into (its position modulo kGemmRowBlock and the size of its block).
#pragma once

#include <cstdint>

namespace moelab {

inline constexpr std::int64_t kGemmRowBlock = 64;

// Row-major C[M,N] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T.
// A is [M,K] (or [K,M] when trans_a), B is [K,N] (or [N,K] when trans_b); ld* are row strides.
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
          const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C,
          std::int64_t ldc);

// Called once before the first gemm (and safe to call again): pins OpenBLAS to one thread.
void pin_blas_single_threaded();

}  // namespace moelab
