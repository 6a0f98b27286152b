// moelab engine: the one door to OpenBLAS.
//
// Determinism: OpenBLAS's own threading gives different bits at different thread counts, and even
// one thread can give a row different bits depending on how many rows a call has (docs/performance.md).
// So every product goes through gemm() below, which (1) keeps OpenBLAS single-threaded and (2)
// splits C into row blocks fixed by the shape alone (gemm_row_block below). OpenMP runs the blocks in
// parallel; each block is the same single-threaded dgemm call whatever the thread count, so C has the
// same bits under OMP_NUM_THREADS=1, 2, 4.
//
// What is NOT guaranteed: batch-composition independence. A row's bits may depend on which block
// it falls into (its position in the block and the size of its block), hence on the shape of the product.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

namespace moelab {

// Rows per block, fixed by the shape alone, a multiple of kGemmRowBlock, at most kGemmMaxBlocks blocks.
// Each block is its own dgemm call and streams all of B again, which costs little when B is small (the
// router and the head: K*N of a few thousand) but 5-10% when B is a weight of 100 000 elements or more
// cut into 64-row blocks (W1's products at batch 128, measured). So a product with a large B gets about
// one block per kGemmBlockFlops of work, one with a small B blocks of 64 rows; and a tall product is cut
// into at most 16 blocks either way (157 packings of the weight for 10 000 rows in blocks of 64 cost W4 a
// fifth of its time).
inline constexpr std::int64_t kGemmRowBlock = 64;
inline constexpr std::int64_t kGemmMaxBlocks = 16;
inline constexpr std::int64_t kGemmSmallB = 16384;   // elements of B (128 KiB): stays in L2
inline constexpr double kGemmBlockFlops = 16e6;
inline std::int64_t gemm_row_block(std::int64_t M, std::int64_t N, std::int64_t K) {
    std::int64_t blocks = kGemmMaxBlocks;
    if (K * N > kGemmSmallB) {
        const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
        blocks = std::clamp<std::int64_t>(static_cast<std::int64_t>(flops / kGemmBlockFlops), 1, kGemmMaxBlocks);
    }
    const std::int64_t per_block = (M + blocks - 1) / blocks;
    return std::max(kGemmRowBlock, (per_block + kGemmRowBlock - 1) / kGemmRowBlock * kGemmRowBlock);
}

// Row-major C[M,N] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T.
// A is [M,K] (or [K,M] when trans_a), B is [K,N] (or [N,K] when trans_b); ld* are row strides.
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
          const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C,
          std::int64_t ldc);

// One gemm() call as the caller made it (before the split into row blocks).
struct GemmCall {
    bool trans_a = false, trans_b = false;
    std::int64_t M = 0, N = 0, K = 0, lda = 0, ldb = 0, ldc = 0;
    double beta = 0.0;
    double flops() const { return 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K); }
};
// An observer sees every product the engine computes, once per product however it is cut into row blocks
// (the benchmark installs one to replay a workload's exact products through raw cblas calls: the
// workload's GEMM floor). Calls from several threads are serialized. An empty observer removes it.
using GemmObserver = std::function<void(const GemmCall&)>;
void set_gemm_observer(GemmObserver observer);
// The observer that appends each call to `sink`; nullptr removes the observer.
void record_gemm_calls(std::vector<GemmCall>* sink);

// For a caller that runs the row blocks of one product itself (e.g. several products' blocks in one
// parallel loop): gemm_block is one single-threaded dgemm call on rows [r0, r0 + rows) of C, with the
// same arguments gemm() passes for that block, so that cutting M at gemm_row_block(M, N, K) gives gemm()'s
// bits. It tells the observer nothing: the caller declares the whole product once with gemm_blocked_product,
// so that an observer still sees the products the workload contains.
void gemm_block(bool trans_a, bool trans_b, std::int64_t r0, std::int64_t rows, std::int64_t N, std::int64_t K,
                double alpha, const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta,
                double* C, std::int64_t ldc);
void gemm_blocked_product(const GemmCall& product);

// Called once before the first gemm (and safe to call again): pins OpenBLAS to one thread.
void pin_blas_single_threaded();

}  // namespace moelab
