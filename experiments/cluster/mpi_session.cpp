#include "experiments/cluster/mpi_session.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>

#ifdef MOELAB_HAVE_MPI
#define OMPI_SKIP_MPICXX 1   // the C API only: the deprecated C++ bindings warn under -Wextra
#include <mpi.h>
#endif

namespace moelab::cli::mpi {

namespace {
bool g_active = false;
int g_rank = 0, g_size = 1;
ExchangeStats g_stats;
}  // namespace

namespace {
// Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMI_SIZE covers MPICH-style launchers.
const char* launcher_size() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
        if (const char* v = std::getenv(name)) return v;
    return nullptr;
}
}  // namespace

int launched_ranks() {
    const char* v = launcher_size();
    return v && std::atoi(v) >= 1 ? std::atoi(v) : 1;
}

#ifdef MOELAB_HAVE_MPI

bool compiled_in() { return true; }

std::string library_version() {
    char text[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(text, &len);   // allowed before MPI_Init
    std::string s(text, static_cast<std::size_t>(len));
    const auto cut = s.find_first_of(",\n");
    return cut == std::string::npos ? s : s.substr(0, cut);
}

Session::Session(int& argc, char**& argv) {
    if (g_active || launcher_size() == nullptr) return;
    MPI_Init(&argc, &argv);
    g_active = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
}

Session::~Session() {
    if (g_active) MPI_Finalize();
    g_active = false;
}

void barrier() {
    if (g_active) MPI_Barrier(MPI_COMM_WORLD);
}

void allgather(const std::vector<double>& mine, std::vector<double>& all) {
    all.resize(mine.size() * static_cast<std::size_t>(g_size));
    if (!g_active) {
        std::copy(mine.begin(), mine.end(), all.begin());
        return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    // One record block per rank; counts above 2^31 doubles (16 GiB) are not a concern for these models.
    MPI_Allgather(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, all.data(), static_cast<int>(mine.size()),
                  MPI_DOUBLE, MPI_COMM_WORLD);
    g_stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    g_stats.bytes_received += static_cast<double>(mine.size() * sizeof(double)) * static_cast<double>(g_size - 1);
    ++g_stats.calls;
}

long long sum_over_ranks(long long value) {
    if (!g_active) return value;
    long long total = 0;
    MPI_Allreduce(&value, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    return total;
}

std::vector<std::string> gather_bytes(const std::string& mine) {
    if (!g_active) return {mine};
    if (mine.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw std::length_error("gather_bytes: " + std::to_string(mine.size()) + " bytes exceed an MPI count");
    // Lengths first, then the bytes into one buffer at each rank's offset.
    const int length = static_cast<int>(mine.size());
    std::vector<int> lengths(static_cast<std::size_t>(g_size)), offsets(static_cast<std::size_t>(g_size));
    MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    long long total = 0;
    for (int r = 0; r < g_size; ++r) {
        offsets[static_cast<std::size_t>(r)] = static_cast<int>(total);
        total += lengths[static_cast<std::size_t>(r)];
    }
    if (g_rank == 0 && total > std::numeric_limits<int>::max()) {
        // The other ranks already wait in the Gatherv: end the job rather than leave them hanging.
        std::fprintf(stderr, "moelab: error: gather_bytes: %lld bytes in all exceed an MPI count\n", total);
        abort_job(1);
    }
    std::string all(g_rank == 0 ? static_cast<std::size_t>(total) : 0, '\0');
    MPI_Gatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
    if (g_rank != 0) return {};
    std::vector<std::string> parts;
    for (int r = 0; r < g_size; ++r)
        parts.push_back(all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(r)]),
                                   static_cast<std::size_t>(lengths[static_cast<std::size_t>(r)])));
    return parts;
}

void abort_job(int code) {
    if (g_active) MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
}

#else

bool compiled_in() { return false; }
std::string library_version() { return ""; }
Session::Session(int&, char**&) {}
Session::~Session() {}
void barrier() {}
void allgather(const std::vector<double>& mine, std::vector<double>& all) { all = mine; }
long long sum_over_ranks(long long value) { return value; }
std::vector<std::string> gather_bytes(const std::string& mine) { return {mine}; }
void abort_job(int code) { std::exit(code); }

#endif

int rank() { return g_rank; }
int size() { return g_size; }
bool active() { return g_active; }
ExchangeStats exchange_stats() { return g_stats; }

}  // namespace moelab::cli::mpi
