#include "engine/blas.hpp"

#include <cblas.h>

#include <algorithm>

namespace moelab {

void pin_blas_single_threaded() { openblas_set_num_threads(1); }

namespace {
// Runs at load time, before main: no OpenBLAS call can see its default thread pool size.
const bool g_pinned = (pin_blas_single_threaded(), true);
}  // namespace

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
          const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C,
          std::int64_t ldc) {
    (void)g_pinned;
    if (M == 0 || N == 0) return;
    const std::int64_t blocks = (M + kGemmRowBlock - 1) / kGemmRowBlock;
    const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
#pragma omp parallel for schedule(static) if (blocks > 1 && flops > 2e6)
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
        const std::int64_t r0 = blk * kGemmRowBlock;
        const std::int64_t rows = std::min(kGemmRowBlock, M - r0);
        // Row block r0.. of op(A): rows of A, or columns of A when A is stored transposed.
        const double* a_blk = trans_a ? A + r0 : A + r0 * lda;
        cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    static_cast<blasint>(rows), static_cast<blasint>(N), static_cast<blasint>(K), alpha, a_blk,
                    static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C + r0 * ldc,
                    static_cast<blasint>(ldc));
    }
}

}  // namespace moelab
