// Splitting a command's samples over MPI ranks (`moelab certify`, `check`, `attack` under mpirun).
//
// Assignment: contiguous blocks in sample order, rank r taking units [r U / N, (r + 1) U / N) of U units
// over N ranks (a unit is a sample, or a whole attack batch). Contiguous, not i mod N, because (a) the
// merged records are then the ranks' records concatenated in rank order, already in sample order; (b) an
// attack batch stays one batch on one rank, so every sample is computed in the batch it has in a 1-rank run
// (a row's bits may depend on its batch: docs/determinism.md); (c) randomized smoothing numbers its noise
// streams from the block's first sample on. The assignment depends only on U and N, never on timing.
//
// Every rank computes its block, packs its per-sample records (experiments/cluster/byte_records.hpp) and sends them
// to rank 0, which unpacks them in rank order, computes the summaries from the merged records as a 1-rank
// run does, and alone writes files and prints. Without MPI, or on 1 rank, the block is everything.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/dataset.hpp"

namespace moelab::cli {

struct SampleBlock {
    std::int64_t begin = 0, end = 0;
    std::int64_t size() const { return end - begin; }
};

// Rank `rank` of `ranks`'s contiguous share of `units` (balanced: sizes differ by at most 1).
inline SampleBlock block_of_rank(std::int64_t units, int rank, int ranks) {
    return {units * rank / ranks, units * (rank + 1) / ranks};
}
// This process's share (mpi::rank() of mpi::size()).
SampleBlock my_block(std::int64_t units);
// Whole batches of `batch` samples: this process's samples, a block of batches (the last batch may be short).
SampleBlock my_batches(std::int64_t samples, std::int64_t batch);

// Refuses (std::invalid_argument naming `command`) a launch by mpirun of several processes when this moelab
// was built without MPI: each process would compute and write everything.
void refuse_mpirun_without_mpi(const std::string& command);

bool is_rank0();
bool split_over_ranks();   // more than one rank: records go through rank 0

// Runs `work` on every rank. Under MPI with several ranks an exception on any rank (e.g. a model the
// solver does not support, found while computing a block) becomes the same mpi::UniformError on every
// rank, carrying the first failing rank's message, so no rank is left waiting in a collective and rank 0
// reports it as one line. On one rank `work`'s own exceptions pass through unchanged.
void run_on_every_rank(const std::function<void()>& work);

// This rank's packed records to rank 0: on rank 0 every rank's, in rank order; elsewhere empty.
std::vector<std::string> gather_records(const std::string& mine);

}  // namespace moelab::cli
