#include "engine/rng.hpp"

#include <cmath>

namespace moelab {

std::uint64_t Rng::mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

Rng Rng::split(std::string_view name) const {
    // FNV-1a 64 of the name, then mixed with the parent key.
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ULL;
    return Rng(mix(key_ ^ mix(h + 0x243f6a8885a308d3ULL)), 0);
}

Rng Rng::split(std::uint64_t index) const { return Rng(mix(key_ ^ mix(index + 0x13198a2e03707344ULL)), 0); }

std::uint64_t Rng::bits(std::uint64_t counter) const {
    // Two rounds of the mixer over (key, counter): the golden-ratio increment of SplitMix64.
    return mix(key_ + mix(counter * 0x9e3779b97f4a7c15ULL + 0xa4093822299f31d0ULL));
}

double Rng::uniform(std::uint64_t counter) const {
    return static_cast<double>(bits(counter) >> 11) * 0x1.0p-53;
}

double Rng::normal(std::uint64_t counter) const {
    // Box-Muller with u1 in (0, 1] so that log(u1) is finite; element `counter` uses sub-draws 2c, 2c+1.
    const double u1 = 1.0 - uniform(2 * counter);
    const double u2 = uniform(2 * counter + 1);
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

std::uint64_t Rng::below(std::uint64_t counter, std::uint64_t n) const {
    // Lemire-free simple rejection: reject draws from the incomplete top block. Retries use
    // a sub-stream of this element so that the counter layout stays one element per counter.
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    Rng retry = split(counter);
    std::uint64_t x = bits(counter);
    for (std::uint64_t r = 0; x >= limit; ++r) x = retry.bits(r);
    return x % n;
}

}  // namespace moelab
