// REPORT.md and the summary table make repro prints: what a person reads in two minutes. Numbers are formatted
// by the drivers (sig(): 3-4 significant digits); the raw numbers stay in each claim's result.json.
#include <cmath>
#include <set>
#include <sstream>

#include "experiments/claims/claims.hpp"

using nlohmann::json;

namespace moelab::cli {

namespace {

// A cell may not break the table: '|' escaped, line breaks flattened.
std::string cell(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '|') out += "\\|";
        else if (c == '\n') out += ' ';
        else out += c;
    }
    return out;
}

std::string seeds_text(const std::vector<std::uint64_t>& seeds) {
    std::string s;
    for (auto v : seeds) s += (s.empty() ? "" : ",") + std::to_string(v);
    return std::to_string(seeds.size()) + " (" + s + ")";
}

// "not reproduced", or "not reproduced (trade-off half: reproduced)" for a claim with a half read apart.
std::string verdict_text(const ClaimOutcome& o) {
    const std::string verdict = to_string(o.verdict);
    return o.part_verdict.empty() ? verdict : verdict + " (" + o.part_verdict + ")";
}

std::string effect_text(const ClaimOutcome& o) {
    if (o.interval.n == 0) return "n/a (single seed)";
    return sig(o.interval, 3);
}

void claim_section(std::ostringstream& md, const ClaimRun& r) {
    const Claim& c = *r.claim;
    const ClaimOutcome& o = r.outcome;
    md << "## " << c.id << ": " << c.title << "\n\n";
    md << "**Paper (" << c.source << ").** " << o.paper << "\n\n";
    md << "**Set-up.** " << o.setup << "\n\n";
    for (const ResultsTable& t : o.tables) md << to_markdown(t) << "\n";
    if (!o.figure.empty()) md << "![" << c.id << "](claims/" << c.id << "/" << o.figure << ")\n\n";
    md << "**Effect.** " << o.effect << ": " << effect_text(o) << " over " << o.seeds.size() << " seed"
       << (o.seeds.size() == 1 ? "" : "s");
    if (std::isfinite(o.detectable)) md << "; smallest effect this run could detect: " << sig(o.detectable, 3);
    md << ".\n\n";
    if (o.interval.n > 0) md << "**Rule.** " << o.rule.describe(o.effect) << "\n\n";
    md << "**Verdict: " << verdict_text(o) << ".** " << o.reason << "\n\n";
    if (!o.usage.empty()) {
        md << "Expert usage of the MoEs trained:\n\n";
        for (const std::string& u : o.usage) md << "- " << u << "\n";
        md << "\n";
    }
}

}  // namespace

std::string to_markdown(const ResultsTable& t) {
    std::ostringstream md;
    if (!t.caption.empty()) md << t.caption << "\n\n";
    md << "|";
    for (const auto& h : t.header) md << " " << cell(h) << " |";
    md << "\n|";
    for (std::size_t i = 0; i < t.header.size(); ++i) md << "---|";
    md << "\n";
    for (const auto& row : t.rows) {
        md << "|";
        for (const auto& v : row) md << " " << cell(v) << " |";
        md << "\n";
    }
    return md.str();
}

void decide(ClaimOutcome& o, const std::vector<double>& per_seed_effects) {
    o.verdict = verdict_on_interval(o.interval, o.rule);
    o.detectable = minimal_detectable_effect(per_seed_effects);
}

json to_json(const ClaimOutcome& o) {
    json tables = json::array();
    for (const auto& t : o.tables) tables.push_back({{"caption", t.caption}, {"header", t.header}, {"rows", t.rows}});
    auto finite_or_null = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
    return json{{"paper", o.paper},
                {"effect", o.effect},
                {"interval", {{"mean", finite_or_null(o.interval.mean)}, {"lo", finite_or_null(o.interval.lo)},
                              {"hi", finite_or_null(o.interval.hi)}, {"n", o.interval.n}}},
                {"rule", o.interval.n > 0 ? o.rule.describe(o.effect) : std::string()},
                {"verdict", to_string(o.verdict)},
                {"part_verdict", o.part_verdict},
                {"detectable", finite_or_null(o.detectable)},
                {"seeds", o.seeds},
                {"budget", o.budget},
                {"setup", o.setup},
                {"tables", tables},
                {"figure", o.figure},
                {"reason", o.reason},
                {"usage", o.usage},
                {"checker_violations", o.checker_violations},
                {"data", o.data}};
}

std::string summary_table(const std::vector<ClaimRun>& runs) {
    ResultsTable t{"", {"claim", "paper says", "our effect [95% interval]", "verdict", "seeds", "budget"}, {}};
    for (const ClaimRun& r : runs)
        t.rows.push_back({r.claim->id, r.claim->title, r.outcome.effect + ": " + effect_text(r.outcome),
                          verdict_text(r.outcome), seeds_text(r.outcome.seeds), r.outcome.budget});
    return to_markdown(t);
}

std::string render_report(const std::vector<ClaimRun>& runs, const ReproProfile& p) {
    std::ostringstream md;
    md << "# moelab reproduction report (" << p.name << " profile)\n\n"
       << "Small-scale CPU re-runs of the claims in docs/theory.md section 5. The scale differs from the papers "
          "(Fashion-MNIST and synthetic clusters instead of ImageNet, CIFAR-10 or language models); each claim's "
          "set-up card says how. An effect is a mean over seeds with its 95% interval (Student's t), and each "
          "verdict is read on that interval by the rule stated under it.\n\n## Summary\n\n"
       << summary_table(runs) << "\n";
    std::set<std::string> ran;
    std::int64_t violations = 0;
    std::string covered;
    for (const ClaimRun& r : runs) {
        ran.insert(r.claim->id);
        claim_section(md, r);
        if (r.outcome.checker_violations >= 0) {
            violations += r.outcome.checker_violations;
            covered += (covered.empty() ? "" : ", ") + r.claim->id;
        }
    }
    std::string missing;
    for (const Claim& c : claims())
        if (!ran.count(c.id)) missing += (missing.empty() ? "" : ", ") + c.id;
    if (!missing.empty())
        md << "## Not run\n\n" << missing << ": left out of this run (--claims), so no verdict is claimed.\n\n";
    md << "## Checker\n\n";
    if (covered.empty()) md << "No claim in this run ran the checker.\n\n";
    else
        md << "Violations of certified radius <= exact distance <= attack distance over the samples checked by "
           << covered << ": **" << violations << "**.\n\n";
    return md.str();
}

}  // namespace moelab::cli
