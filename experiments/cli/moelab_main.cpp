// The `moelab` command: one CLI11 app with one subcommand per job. Each subcommand's flags and work
// live in experiments/cmd_<name>.cpp; this file wires them together and turns any error into one
// line on stderr and a non-zero exit. Under mpirun, MPI is started here (experiments/cluster/mpi_session.hpp
// says which errors rank 0 alone reports and which abort the job).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "engine/float_semantics.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/io/config_keys.hpp"
#include "experiments/cli/flag_values.hpp"
#include "experiments/cluster/mpi_session.hpp"
#include "experiments/io/output_paths.hpp"

int main(int argc, char** argv) {
    namespace mpi = moelab::cli::mpi;
    using moelab::cli::user_message;
    mpi::Session session(argc, argv);
    // A build with other compiler flags (e.g. -march=native without -ffp-contract=off, or -ffast-math)
    // still runs, but its numbers are not comparable bit for bit with anyone else's: say so once.
    if (!moelab::float_semantics().ok() && mpi::rank() == 0)
        std::fprintf(stderr, "moelab: warning: this build fuses a*b+c or flushes subnormals (compiler flags): "
                             "results will not match other builds bit for bit (see `moelab info`)\n");
    CLI::App app{"moelab: deterministic Mixture-of-Experts robustness lab (float64, CPU)"};
    app.require_subcommand(1);
    int exit_code = 0;
    moelab::cli::add_info_command(app, exit_code);
    moelab::cli::add_train_command(app, exit_code);
    moelab::cli::add_eval_command(app, exit_code);
    moelab::cli::add_attack_command(app, exit_code);
    moelab::cli::add_certify_command(app, exit_code);
    moelab::cli::add_lipschitz_command(app, exit_code);
    moelab::cli::add_check_command(app, exit_code);
    moelab::cli::add_repro_command(app, exit_code);
    moelab::cli::add_sweep_command(app, exit_code);
    moelab::cli::add_data_command(app, exit_code);
    moelab::cli::add_seed_checks(app);
    try {
        moelab::cli::reject_unknown_command(app, argc, argv);
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (mpi::rank() != 0) return e.get_exit_code() != 0;
        if (e.get_exit_code() == 0) return app.exit(e);   // --help
        std::fprintf(stderr, "moelab: error: %s (see moelab --help)\n", e.what());   // one line, like every error
        return e.get_exit_code();
    } catch (const std::invalid_argument& e) {   // bad input: every rank saw it
        if (mpi::rank() == 0) std::fprintf(stderr, "moelab: error: %s\n", user_message(e).c_str());
        if (mpi::rank() == 0) moelab::cli::remove_created_empty_dirs();
        return 1;
    } catch (const mpi::UniformError& e) {
        if (mpi::rank() == 0) std::fprintf(stderr, "moelab: error: %s\n", user_message(e).c_str());
        return 1;
    } catch (const std::exception& e) {
        if (mpi::size() == 1) {
            std::fprintf(stderr, "moelab: error: %s\n", user_message(e).c_str());
            moelab::cli::remove_created_empty_dirs();
            return 1;
        }
        // Possibly this rank's error alone, with the others waiting in a collective: end the job.
        std::fprintf(stderr, "moelab: error: rank %d: %s\n", mpi::rank(), user_message(e).c_str());
        mpi::abort_job(1);
    }
    return exit_code;
}
