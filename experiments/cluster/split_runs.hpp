// `moelab certify`, `check` and `attack` with their samples split over MPI ranks (experiments/cluster/sample_split.hpp
// says how a rank's block is chosen and why). Each function runs this rank's block through the library,
// sends its per-sample records to rank 0 and returns there the result of one run over every sample, bit for
// bit; on the other ranks it returns an empty result, and the command writes and prints nothing there.
// Without MPI, or on one rank, it is the plain library call. Progress lines come from rank 0 alone, over
// its own block.
//   certify: a per_sample method (exact, exact-lipschitz, smoothing, crown, crown-ibp, alpha-crown) is split by
//            samples; a method that runs as one batch over the set (lipschitz, ibp, p2, naive) runs on rank 0
//            alone, since a row's bits may depend on its batch.
//   check:   every rank runs the batch parts (the three attacks, lipschitz, ibp, the crowns, p2) over the whole
//            set, for the same reason, and the per-sample solvers (exact, exact-lipschitz, smoothing) on its
//            block: the expensive part is split, the batch parts repeated.
//   attack:  whole batches of --batch-size samples per rank, so every sample is attacked in the batch it
//            has in a one-rank run (random starts are numbered by the row within its batch).
#pragma once

#include <string>

#include "theory/attacks/attack_harness.hpp"
#include "theory/bounds/certify_methods.hpp"
#include "theory/check/checker.hpp"

namespace moelab::cli {

MethodRadii certify_on_ranks(CertifyMethod method, const Classifier& model, const Dataset& test, Norm norm,
                             const CertifySettings& settings, const std::string& label);
CheckReport check_on_ranks(const Classifier& model, const Dataset& data, const CheckOptions& options,
                           const std::string& label);
RobustnessReport attack_on_ranks(const Classifier& model, const Dataset& data, const AttackSpec& spec,
                                 const std::string& label);

// The progress label of this rank's block: "LABEL" alone, or "LABEL (rank 0 of 2: samples 0-49 of 100)".
std::string block_label(const std::string& label, std::int64_t begin, std::int64_t end, std::int64_t total);

}  // namespace moelab::cli
