// moelab info: what this build is and what it finds on the machine.
#include <cblas.h>

#include <cstdio>
#include <filesystem>

#include "engine/float_semantics.hpp"
#include "engine/parallel.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cluster/mpi_session.hpp"

namespace moelab::cli {

void add_info_command(CLI::App& app, int& exit_code) {
    auto* sub = app.add_subcommand("info", "print the build, thread and data configuration");
    sub->callback([&exit_code] {
        std::printf("moelab 0.1 (float64, C++20)\n");
        std::printf("OpenMP threads:   %d (set OMP_NUM_THREADS or --threads)\n", max_threads());
        std::printf("OpenBLAS:         %s, pinned to 1 thread per call\n", openblas_get_config());
        const FloatSemantics fs = float_semantics();
        std::printf("Floating point:   a*b+c %s, subnormals %s%s\n", fs.unfused_multiply_add ? "unfused" : "FUSED",
                    fs.subnormals_kept ? "kept" : "FLUSHED",
                    fs.ok() ? " (as the bitwise guarantees need)" : ": results will not match other builds bit for bit");
        const char* fm = "/usr/share/datasets/fashion-mnist";
        std::printf("Fashion-MNIST:    %s (%s)\n", fm, std::filesystem::exists(fm) ? "found" : "missing");
        if (mpi::compiled_in())
            std::printf("MPI:              %s (rank %d of %d): sweep over ranks, train --parallel data\n",
                        mpi::library_version().c_str(), mpi::rank(), mpi::size());
        else
            std::printf("MPI:              left out of this build (no mpicxx when it was built): sweep runs serially, "
                        "train --parallel data in one process only\n");
        exit_code = 0;
    });
}

}  // namespace moelab::cli
