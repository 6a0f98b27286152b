#include "engine/npz.hpp"

#include <zlib.h>

#include <cstring>
#include <stdexcept>

#include "engine/atomic_file.hpp"
#include "engine/bounded_read.hpp"
#include "engine/finite_check.hpp"

namespace moelab {

namespace {

template <class T>
void put(std::string& out, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.append(b, sizeof(T));
}

template <class T>
T get(const std::string& b, std::size_t at, const std::string& path) {
    if (at + sizeof(T) > b.size()) throw std::runtime_error(path + ": truncated npz archive");
    T v;
    std::memcpy(&v, b.data() + at, sizeof(T));
    return v;
}

std::string npy_bytes(const Tensor& t) {
    std::string shape = "(";
    for (int i = 0; i < t.shape().rank(); ++i) shape += std::to_string(t.shape()[i]) + (t.shape().rank() == 1 ? ",)" : (i + 1 < t.shape().rank() ? ", " : ")"));
    if (t.shape().rank() == 0) shape += ")";
    std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }";
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, ending in '\n'.
    const std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(header.size()));
    out += header;
    out.append(reinterpret_cast<const char*>(t.data()), static_cast<std::size_t>(t.numel()) * sizeof(double));
    return out;
}

Tensor parse_npy(const std::string& b, const std::string& where) {
    auto fail = [&](const std::string& what) { throw std::runtime_error(where + ": " + what); };
    if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0) fail("not an NPY array");
    const int major = static_cast<unsigned char>(b[6]);
    std::size_t header_len = 0, start = 0;
    if (major == 1) {
        header_len = get<std::uint16_t>(b, 8, where), start = 10;
    } else if (major == 2 || major == 3) {
        header_len = get<std::uint32_t>(b, 8, where), start = 12;
    } else {
        fail("unsupported NPY version " + std::to_string(major));
    }
    if (start + header_len > b.size()) fail("truncated NPY header");
    const std::string h = b.substr(start, header_len);
    if (h.find("'descr': '<f8'") == std::string::npos) fail("dtype is not float64 '<f8' (header " + h + ")");
    if (h.find("'fortran_order': False") == std::string::npos) fail("Fortran-order arrays are not supported");
    const auto open = h.find('(', h.find("'shape'")), close = h.find(')', open);
    if (open == std::string::npos || close == std::string::npos) fail("no shape in NPY header");
    std::vector<std::int64_t> dims;
    std::string cur;
    for (std::size_t i = open + 1; i <= close; ++i) {
        const char c = h[i];
        if (c >= '0' && c <= '9') {
            cur += c;
        } else if (!cur.empty()) {
            dims.push_back(std::stoll(cur));
            cur.clear();
        }
    }
    if (dims.size() > 4) fail("rank " + std::to_string(dims.size()) + " exceeds 4");
    // Check the shape against the data before allocating: a header can claim any size, and the element
    // count can overflow (found by tests/fuzz/fuzz_checkpoint). Same bounds as checkpoint.cpp.
    const Shape shape(dims);
    std::uint64_t numel = 1;
    for (const std::int64_t d : dims) {
        const auto v = static_cast<std::uint64_t>(d);
        if (v > (std::uint64_t{1} << 40) || (v > 0 && numel > (std::uint64_t{1} << 40) / v))
            fail("implausible shape " + shape.str());
        numel *= v;
    }
    const std::uint64_t need = numel * sizeof(double);
    if (b.size() - start - header_len != need) fail("data size does not match shape " + shape.str());
    Tensor t{shape};
    if (need > 0) std::memcpy(t.data(), b.data() + start + header_len, need);   // an empty tensor's data() is null
    return t;
}

}  // namespace

void write_npz(const std::string& path, const std::vector<NamedTensor>& tensors) {
    std::string out, central;
    constexpr std::uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;   // 1980-01-01, fixed for reproducible bytes
    for (const auto& t : tensors) {
        const std::string name = t.name + ".npy", data = npy_bytes(t.tensor);
        if (data.size() >= 0xFFFFFFFFu || out.size() >= 0xFFFFFFFFu)
            throw std::runtime_error("cannot write " + path + ": archive exceeds 4 GiB (ZIP64 not supported)");
        const auto crc = static_cast<std::uint32_t>(
            crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
        const auto offset = static_cast<std::uint32_t>(out.size());
        const auto size = static_cast<std::uint32_t>(data.size());
        put<std::uint32_t>(out, 0x04034b50);
        for (std::uint16_t v : {std::uint16_t{20}, std::uint16_t{0}, std::uint16_t{0}, std::uint16_t{0}, kDosDate}) put(out, v);
        put(out, crc), put(out, size), put(out, size);
        put<std::uint16_t>(out, static_cast<std::uint16_t>(name.size()));
        put<std::uint16_t>(out, 0);
        out += name;
        out += data;
        put<std::uint32_t>(central, 0x02014b50);
        for (std::uint16_t v : {std::uint16_t{20}, std::uint16_t{20}, std::uint16_t{0}, std::uint16_t{0}, std::uint16_t{0}, kDosDate})
            put(central, v);
        put(central, crc), put(central, size), put(central, size);
        put<std::uint16_t>(central, static_cast<std::uint16_t>(name.size()));
        for (int i = 0; i < 4; ++i) put<std::uint16_t>(central, 0);   // extra, comment, disk, internal attributes
        put<std::uint32_t>(central, 0);                               // external attributes
        put(central, offset);
        central += name;
    }
    const auto cd_offset = static_cast<std::uint32_t>(out.size());
    out += central;
    put<std::uint32_t>(out, 0x06054b50);
    put<std::uint16_t>(out, 0), put<std::uint16_t>(out, 0);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(tensors.size()));
    put<std::uint16_t>(out, static_cast<std::uint16_t>(tensors.size()));
    put<std::uint32_t>(out, static_cast<std::uint32_t>(central.size()));
    put(out, cd_offset);
    put<std::uint16_t>(out, 0);
    write_file_atomic(path, out);
}

std::vector<NamedTensor> read_npz(const std::string& path) {
    const std::string b = read_regular_file(path, memory_limit_bytes() / 2, "half the memory limit: an archive is held twice while read");
    std::vector<NamedTensor> out;
    std::size_t at = 0;
    while (at + 4 <= b.size() && get<std::uint32_t>(b, at, path) == 0x04034b50) {
        const auto flags = get<std::uint16_t>(b, at + 6, path), method = get<std::uint16_t>(b, at + 8, path);
        std::uint64_t csize = get<std::uint32_t>(b, at + 18, path);
        const auto name_len = get<std::uint16_t>(b, at + 26, path), extra_len = get<std::uint16_t>(b, at + 28, path);
        if (at + 30 + name_len + extra_len > b.size()) throw std::runtime_error(path + ": truncated npz archive");
        const std::string name = b.substr(at + 30, name_len);
        const std::string where = path + ": entry '" + name + "'";
        if (method != 0) throw std::runtime_error(where + " is compressed (only stored entries are supported)");
        if (flags & 0x8) throw std::runtime_error(where + " uses a data descriptor (not supported)");
        if (csize == 0xFFFFFFFFu) {   // ZIP64: sizes in extra field 0x0001 (uncompressed, then compressed)
            std::size_t e = at + 30 + name_len;
            const std::size_t end = e + extra_len;
            bool found = false;
            while (e + 4 <= end) {
                const auto id = get<std::uint16_t>(b, e, path), len = get<std::uint16_t>(b, e + 2, path);
                if (id == 0x0001 && len >= 16) {
                    csize = get<std::uint64_t>(b, e + 12, path);
                    found = true;
                }
                e += 4u + len;
            }
            if (!found) throw std::runtime_error(where + ": ZIP64 sizes missing");
        }
        const std::size_t data = at + 30 + name_len + extra_len;
        if (csize > b.size() - data) throw std::runtime_error(where + " is truncated");
        std::string tensor_name = name;
        if (tensor_name.size() > 4 && tensor_name.compare(tensor_name.size() - 4, 4, ".npy") == 0)
            tensor_name.resize(tensor_name.size() - 4);
        out.push_back({tensor_name, parse_npy(b.substr(data, static_cast<std::size_t>(csize)), where)});
        require_finite(out.back().tensor, tensor_name, path);
        at = data + static_cast<std::size_t>(csize);
    }
    if (at + 4 > b.size() || (get<std::uint32_t>(b, at, path) != 0x02014b50 && get<std::uint32_t>(b, at, path) != 0x06054b50))
        throw std::runtime_error(path + ": not a valid npz archive (no ZIP central directory where expected)");
    return out;
}

}  // namespace moelab
