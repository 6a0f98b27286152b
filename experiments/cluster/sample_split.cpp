#include "experiments/cluster/sample_split.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>

#include "experiments/io/config_keys.hpp"
#include "experiments/cluster/mpi_session.hpp"

namespace moelab::cli {

SampleBlock my_block(std::int64_t units) { return block_of_rank(units, mpi::rank(), mpi::size()); }

SampleBlock my_batches(std::int64_t samples, std::int64_t batch) {
    const SampleBlock b = my_block((samples + batch - 1) / batch);
    return {std::min(b.begin * batch, samples), std::min(b.end * batch, samples)};
}

void refuse_mpirun_without_mpi(const std::string& command) {
    if (mpi::launched_ranks() > 1 && !mpi::compiled_in())
        throw std::invalid_argument(command + ": launched as " + std::to_string(mpi::launched_ranks()) +
                                    " processes, but this moelab was built without MPI: each would compute and write "
                                    "everything (run it as one process, or see moelab info)");
}

bool is_rank0() { return mpi::rank() == 0; }
bool split_over_ranks() { return mpi::size() > 1; }

void run_on_every_rank(const std::function<void()>& work) {
    if (!split_over_ranks()) {
        work();
        return;
    }
    std::string failure;
    try {
        work();
    } catch (const std::exception& e) {
        failure = user_message(e);
        if (failure.empty()) failure = "unnamed error";
    }
    if (mpi::sum_over_ranks(failure.empty() ? 0 : 1) == 0) return;
    std::string first;
    for (const std::string& m : mpi::gather_bytes(failure))
        if (first.empty()) first = m;
    throw mpi::UniformError(first);   // rank 0 prints it; the others leave quietly
}

std::vector<std::string> gather_records(const std::string& mine) { return mpi::gather_bytes(mine); }

}  // namespace moelab::cli
