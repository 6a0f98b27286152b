// MPI for the moelab command, in this one header and its .cpp: the only file compiled with mpi.h (and
// -DMOELAB_HAVE_MPI, when the Makefile finds mpicxx). Everything else, and builds without MPI, sees
// plain functions: without MPI, or when not launched by mpirun, this process is rank 0 of 1.
//
// MPI is started only under mpirun (its environment says so), so `moelab attack` and friends never pay
// for it, and `moelab sweep` or `moelab train --parallel data` run as one process without it.
//
// Errors: every rank reads the same input, so bad input (std::invalid_argument) and UniformError are
// raised by every rank alike; rank 0 prints them and all ranks leave normally. Any other error may be
// one rank's alone while the others wait in a collective: that rank prints it and aborts the job.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace moelab::cli::mpi {

// An error that every rank raises identically (after a collective has shared what went wrong).
struct UniformError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

bool compiled_in();              // this build has MPI (MOELAB_HAVE_MPI)
std::string library_version();   // the MPI library's own version line ("" without MPI)
int launched_ranks();            // processes mpirun started (its environment), 1 when not under mpirun

// Starts MPI when compiled in and launched by mpirun; finalizes it on destruction. One per process.
class Session {
public:
    Session(int& argc, char**& argv);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
};

int rank();                      // 0 without MPI
int size();                      // 1 without MPI
bool active();                   // MPI was started (size() may still be 1)
void barrier();
// Every rank's `mine` (equal lengths on all ranks), concatenated in rank order, into `all`
// (resized to size() * mine.size()). Without MPI: all = mine.
void allgather(const std::vector<double>& mine, std::vector<double>& all);
long long sum_over_ranks(long long value);
// Every rank's byte string (any length, possibly empty) to rank 0, in rank order: rank 0 gets size() strings,
// the other ranks an empty vector. Without MPI: {mine}. For records whose length differs by rank (a rank's
// share of the samples); a string is at most 2^31 - 1 bytes (MPI counts are int).
std::vector<std::string> gather_bytes(const std::string& mine);
// Ends every rank of the job (MPI_Abort); plain exit without MPI.
[[noreturn]] void abort_job(int code);

// Gradient-exchange cost, for the scaling figures: allgather calls, bytes this rank received from the
// others, and wall seconds inside allgather (waiting for slower ranks included).
struct ExchangeStats {
    long calls = 0;
    double bytes_received = 0.0, seconds = 0.0;
};
ExchangeStats exchange_stats();

}  // namespace moelab::cli::mpi
