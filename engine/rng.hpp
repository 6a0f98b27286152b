// moelab engine: a counter-based random number generator.
//
// Rng is stateless in the sense that matters for determinism: the i-th number of a stream is a pure
// function of (key, i), computed by a SplitMix64-style mixer (Steele, Lea, Flood 2014, the finaliser
// of SplitMix64 / MurmurHash3). Any thread can draw any element of a stream without coordination,
// so results do not depend on the number of threads or on the order work is done in.
//
// Streams are split by name or index: rng.split("init").split("experts.3.fc1.weight") gives a key
// that depends only on the names, so adding a new random consumer never shifts existing ones.
//
// Sampling is ours, not the standard library's (std::normal_distribution differs between
// libraries): uniform = top 53 bits / 2^53; normal = Box-Muller on two uniforms. Box-Muller uses
// std::log, std::sqrt and std::cos; sqrt is exact under IEEE 754, and glibc's log and cos give the same
// bits on every x86-64 and aarch64 machine, which is the platform set moelab supports.
#pragma once

#include <cstdint>
#include <string_view>

namespace moelab {

class Rng {
public:
    explicit Rng(std::uint64_t seed = 0) : key_(mix(seed ^ 0x6a09e667f3bcc909ULL)) {}

    Rng split(std::string_view name) const;     // child stream named `name`
    Rng split(std::uint64_t index) const;       // child stream number `index`

    std::uint64_t bits(std::uint64_t counter) const;   // 64 random bits, element `counter`
    double uniform(std::uint64_t counter) const;       // in [0, 1)
    double uniform(std::uint64_t counter, double lo, double hi) const { return lo + (hi - lo) * uniform(counter); }
    double normal(std::uint64_t counter) const;        // standard normal
    // Uniform integer in [0, n) by rejection of the biased tail, so it is exactly uniform. n > 0.
    std::uint64_t below(std::uint64_t counter, std::uint64_t n) const;

    std::uint64_t key() const { return key_; }
    static std::uint64_t mix(std::uint64_t z);   // the SplitMix64 finaliser

private:
    explicit Rng(std::uint64_t key, int) : key_(key) {}
    std::uint64_t key_;
};

}  // namespace moelab
