// Per-sample records as plain bytes, for sending one rank's results to rank 0 (experiments/cluster/sample_split.hpp).
// Numbers are copied bit for bit (a double's 8 bytes, NaN payloads and signed zeros included), so a record
// read back on rank 0 is the value the other rank computed, not a printed and re-parsed approximation.
// Both ends are this same binary, so byte order and type sizes agree.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace moelab::cli {

class ByteWriter {
public:
    template <class T>
    void put(T value) {
        static_assert(std::is_arithmetic_v<T>, "numbers only; strings and vectors have their own put");
        bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
    }
    void put(const std::string& s) {
        put<std::uint64_t>(s.size());
        bytes_.append(s);
    }
    template <class T>
    void put(const std::vector<T>& v) {
        put<std::uint64_t>(v.size());
        for (const T& e : v) put(e);
    }
    const std::string& bytes() const { return bytes_; }

private:
    std::string bytes_;
};

class ByteReader {
public:
    explicit ByteReader(const std::string& bytes) : bytes_(bytes) {}
    template <class T>
    T get() {
        static_assert(std::is_arithmetic_v<T>, "numbers only; use get_string or get_vector");
        T value;
        std::memcpy(&value, take(sizeof(T)), sizeof(T));
        return value;
    }
    std::string get_string() {
        const auto n = static_cast<std::size_t>(get<std::uint64_t>());
        return std::string(take(n), n);
    }
    template <class T>
    std::vector<T> get_vector() {
        std::vector<T> v(static_cast<std::size_t>(get<std::uint64_t>()));
        for (T& e : v) {
            if constexpr (std::is_same_v<T, std::string>) e = get_string();
            else e = get<T>();
        }
        return v;
    }
    bool done() const { return pos_ == bytes_.size(); }

private:
    const char* take(std::size_t n) {
        // Only this binary writes these records: a short one is a bug, not bad input.
        if (n > bytes_.size() - pos_) throw std::logic_error("ByteReader: record shorter than its fields");
        const char* p = bytes_.data() + pos_;
        pos_ += n;
        return p;
    }
    const std::string& bytes_;
    std::size_t pos_ = 0;
};

}  // namespace moelab::cli
