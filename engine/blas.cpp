#include "engine/blas.hpp"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>

namespace moelab {

void pin_blas_single_threaded() { openblas_set_num_threads(1); }

namespace {
// Runs at load time, before main: no OpenBLAS call can see its default thread pool size.
const bool g_pinned = (pin_blas_single_threaded(), true);

std::atomic<bool> g_observed{false};   // checked first: no lock on the path without an observer
GemmObserver g_observer;
std::mutex g_observer_mutex;

void notify_observer(const GemmCall& product) {
    if (!g_observed.load(std::memory_order_relaxed)) return;
    std::lock_guard<std::mutex> lock(g_observer_mutex);
    if (g_observer) g_observer(product);
}
}  // namespace

void set_gemm_observer(GemmObserver observer) {
    std::lock_guard<std::mutex> lock(g_observer_mutex);
    g_observer = std::move(observer);
    g_observed.store(static_cast<bool>(g_observer));
}

void record_gemm_calls(std::vector<GemmCall>* sink) {
    if (sink) set_gemm_observer([sink](const GemmCall& call) { sink->push_back(call); });
    else set_gemm_observer({});
}

void gemm_blocked_product(const GemmCall& product) { notify_observer(product); }

void gemm_block(bool trans_a, bool trans_b, std::int64_t r0, std::int64_t rows, std::int64_t N, std::int64_t K,
                double alpha, const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta,
                double* C, std::int64_t ldc) {
    (void)g_pinned;
    if (rows == 0 || N == 0) return;
    // Row block r0.. of op(A): rows of A, or columns of A when A is stored transposed.
    const double* a_blk = trans_a ? A + r0 : A + r0 * lda;
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(rows), static_cast<blasint>(N), static_cast<blasint>(K), alpha, a_blk,
                static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C + r0 * ldc, static_cast<blasint>(ldc));
}

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
          const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C,
          std::int64_t ldc) {
    if (M == 0 || N == 0) return;
    notify_observer(GemmCall{trans_a, trans_b, M, N, K, lda, ldb, ldc, beta});
    const std::int64_t row_block = gemm_row_block(M, N, K);
    const std::int64_t blocks = (M + row_block - 1) / row_block;
    const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
#pragma omp parallel for schedule(static) if (blocks > 1 && flops > 2e6)
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
        const std::int64_t r0 = blk * row_block;
        gemm_block(trans_a, trans_b, r0, std::min(row_block, M - r0), N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
}

}  // namespace moelab
