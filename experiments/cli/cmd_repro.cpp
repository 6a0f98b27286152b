// moelab repro: runs the reproduced claims (experiments/claims/claims.hpp) and writes OUT/REPORT.md.
// make repro calls it through experiments/repro.sh, which adds the hashes of the result files.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/atomic_file.hpp"
#include "engine/parallel.hpp"
#include "experiments/claims/claims.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cli/threads_flag.hpp"

namespace moelab::cli {

namespace {

struct ReproFlags {
    std::string profile = "quick", out = "out";
    std::vector<std::string> only;
    int threads = kThreadsUnset;
};

void run(const ReproFlags& f) {
    apply_threads_flag(f.threads);
    const ReproProfile p = repro_profile(f.profile);
    for (const auto& id : f.only) {
        bool known = false;
        for (const auto& c : claims()) known |= c.id == id;
        if (!known) throw std::invalid_argument("--claims: unknown claim '" + id + "'");
    }
    std::vector<ClaimRun> runs;
    const auto t0 = std::chrono::steady_clock::now();
    for (const Claim& c : claims()) {
        if (!f.only.empty() && std::find(f.only.begin(), f.only.end(), c.id) == f.only.end()) continue;
        const std::string dir = f.out + "/claims/" + c.id;
        std::filesystem::create_directories(dir);
        const auto c0 = std::chrono::steady_clock::now();
        const std::clock_t cpu0 = std::clock();
        std::fprintf(stderr, "repro: %s %s\n", c.id.c_str(), c.title.c_str());
        ClaimOutcome o = c.run(dir, p);
        nlohmann::json r = to_json(o);
        r["id"] = c.id;
        r["title"] = c.title;
        r["source"] = c.source;
        r["profile"] = p.name;
        write_file_atomic(dir + "/result.json", r.dump(2) + "\n");
        std::fprintf(stderr, "repro: %s %s (%.0f s, CPU %.0f s)\n", c.id.c_str(), to_string(o.verdict),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count(),
                     static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC);
        runs.push_back({&c, std::move(o)});
    }
    write_file_atomic(f.out + "/REPORT.md", render_report(runs, p) + model_cards(f.out));
    std::printf("%s\n", summary_table(runs).c_str());
    std::printf("repro (%s): %zu claim%s in %.0f s; wrote %s/REPORT.md\n", p.name.c_str(), runs.size(), runs.size() == 1 ? "" : "s",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), f.out.c_str());
}

}  // namespace

void add_repro_command(CLI::App& app, int& exit_code) {
    auto f = std::make_shared<ReproFlags>();
    auto* sub = app.add_subcommand("repro", "re-run the papers' claims at small scale and write REPORT.md");
    sub->add_option("--profile", f->profile, "quick or full")->capture_default_str();
    sub->add_option("--out", f->out, "output directory (REPORT.md, claims/<id>/, models/)")->capture_default_str();
    sub->add_option("--claims", f->only, "only these claims (comma-separated ids)")->delimiter(',');
    sub->add_option("--threads", f->threads, "OpenMP threads (results do not depend on it)");
    sub->callback([f, &exit_code] {
        run(*f);
        exit_code = 0;
    });
}

}  // namespace moelab::cli
