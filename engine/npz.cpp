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

const char* descr_of(NpyDtype d) { return d == NpyDtype::uint8 ? "|u1" : "<i8"; }
std::size_t itemsize_of(NpyDtype d) { return d == NpyDtype::uint8 ? 1 : 8; }

// NPY format 1.0 of an array with this dtype descriptor, shape and raw data.
std::string npy_bytes(const std::string& descr, const std::vector<std::int64_t>& dims, const char* data, std::size_t size) {
    std::string shape = "(";
    for (std::size_t i = 0; i < dims.size(); ++i) shape += std::to_string(dims[i]) + (dims.size() == 1 ? ",)" : (i + 1 < dims.size() ? ", " : ")"));
    if (dims.empty()) shape += ")";
    std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, ending in '\n'.
    const std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(header.size()));
    out += header;
    if (size > 0) out.append(data, size);
    return out;
}

std::string npy_bytes(const Tensor& t) {
    std::vector<std::int64_t> dims;
    for (int i = 0; i < t.shape().rank(); ++i) dims.push_back(t.shape()[i]);
    return npy_bytes("<f8", dims, reinterpret_cast<const char*>(t.data()), static_cast<std::size_t>(t.numel()) * sizeof(double));
}

struct ParsedNpy {
    std::string descr;                  // "<f8", "|u1" or "<i8"
    std::vector<std::int64_t> dims;
    std::size_t data_at = 0, data_size = 0;
};

ParsedNpy parse_npy_header(const std::string& b, const std::string& where) {
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
    ParsedNpy p;
    for (const char* d : {"<f8", "|u1", "<i8"})
        if (h.find(std::string("'descr': '") + d + "'") != std::string::npos) p.descr = d;
    if (p.descr.empty()) fail("dtype is not float64 '<f8', uint8 '|u1' or int64 '<i8' (header " + h + ")");
    if (h.find("'fortran_order': False") == std::string::npos) fail("Fortran-order arrays are not supported");
    const auto open = h.find('(', h.find("'shape'")), close = h.find(')', open);
    if (open == std::string::npos || close == std::string::npos) fail("no shape in NPY header");
    std::string cur;
    for (std::size_t i = open + 1; i <= close; ++i) {
        const char c = h[i];
        if (c >= '0' && c <= '9') {
            if (cur.size() > 15) fail("implausible shape in NPY header");
            cur += c;
        } else if (!cur.empty()) {
            p.dims.push_back(std::stoll(cur));
            cur.clear();
        }
    }
    if (p.dims.size() > 4) fail("rank " + std::to_string(p.dims.size()) + " exceeds 4");
    // Check the shape against the data before allocating: a header can claim any size, and the element
    // count can overflow (found by tests/fuzz/fuzz_checkpoint). Same bounds as checkpoint.cpp.
    const Shape shape(p.dims);
    std::uint64_t numel = 1;
    for (const std::int64_t d : p.dims) {
        const auto v = static_cast<std::uint64_t>(d);
        if (v > (std::uint64_t{1} << 40) || (v > 0 && numel > (std::uint64_t{1} << 40) / v))
            fail("implausible shape " + shape.str());
        numel *= v;
    }
    const std::uint64_t need = numel * (p.descr == "|u1" ? 1 : 8);
    if (b.size() - start - header_len != need) fail("data size does not match shape " + shape.str());
    p.data_at = start + header_len;
    p.data_size = static_cast<std::size_t>(need);
    return p;
}

Tensor tensor_of(const std::string& b, const ParsedNpy& p) {
    Tensor t{Shape(p.dims)};
    if (p.data_size > 0) std::memcpy(t.data(), b.data() + p.data_at, p.data_size);   // an empty tensor's data() is null
    return t;
}

}  // namespace

NpyArray npy_uint8(const std::string& name, const std::string& bytes) {
    return {name, NpyDtype::uint8, {static_cast<std::int64_t>(bytes.size())}, bytes};
}

NpyArray npy_int64(const std::string& name, const std::vector<std::int64_t>& values) {
    std::string bytes(values.size() * sizeof(std::int64_t), '\0');
    if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    return {name, NpyDtype::int64, {static_cast<std::int64_t>(values.size())}, bytes};
}

void write_npz(const std::string& path, const std::vector<NamedTensor>& tensors) { write_npz(path, tensors, {}); }

void write_npy(const std::string& path, const Tensor& tensor) { write_file_atomic(path, npy_bytes(tensor)); }

Tensor read_npy(const std::string& path) {
    const std::string b = read_regular_file(path, memory_limit_bytes() / 2, "half the memory limit");
    const ParsedNpy p = parse_npy_header(b, path);
    if (p.descr != "<f8") throw std::runtime_error(path + ": dtype is not float64 '<f8'");
    return tensor_of(b, p);
}

void write_npz(const std::string& path, const std::vector<NamedTensor>& tensors, const std::vector<NpyArray>& others) {
    std::vector<std::pair<std::string, std::string>> entries;   // file name, NPY bytes
    for (const auto& t : tensors) entries.emplace_back(t.name + ".npy", npy_bytes(t.tensor));
    for (const auto& a : others) {
        std::uint64_t numel = 1;
        for (const std::int64_t d : a.shape) numel *= static_cast<std::uint64_t>(d);
        if (numel * itemsize_of(a.dtype) != a.bytes.size())
            throw std::invalid_argument("write_npz: array '" + a.name + "' has " + std::to_string(a.bytes.size()) +
                                        " bytes, its shape needs " + std::to_string(numel * itemsize_of(a.dtype)));
        entries.emplace_back(a.name + ".npy", npy_bytes(descr_of(a.dtype), a.shape, a.bytes.data(), a.bytes.size()));
    }
    std::string out, central;
    constexpr std::uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;   // 1980-01-01, fixed for reproducible bytes
    for (const auto& [name, data] : entries) {
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
    put<std::uint16_t>(out, static_cast<std::uint16_t>(entries.size()));
    put<std::uint16_t>(out, static_cast<std::uint16_t>(entries.size()));
    put<std::uint32_t>(out, static_cast<std::uint32_t>(central.size()));
    put(out, cd_offset);
    put<std::uint16_t>(out, 0);
    write_file_atomic(path, out);
}

std::vector<NamedTensor> read_npz(const std::string& path) {
    NpzArchive a = read_npz_archive(path);
    if (!a.others.empty())
        throw std::runtime_error(path + ": entry '" + a.others.front().name + ".npy': dtype is not float64 '<f8'");
    return std::move(a.tensors);
}

NpzArchive read_npz_archive(const std::string& path) {
    const std::string b = read_regular_file(path, memory_limit_bytes() / 2, "half the memory limit: an archive is held twice while read");
    NpzArchive out;
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
        const std::string npy = b.substr(data, static_cast<std::size_t>(csize));
        const ParsedNpy p = parse_npy_header(npy, where);
        if (p.descr == "<f8") {
            out.tensors.push_back({tensor_name, tensor_of(npy, p)});
            require_finite(out.tensors.back().tensor, tensor_name, path);
        } else {
            const NpyDtype dtype = p.descr == "|u1" ? NpyDtype::uint8 : NpyDtype::int64;
            out.others.push_back({tensor_name, dtype, p.dims, npy.substr(p.data_at, p.data_size)});
        }
        at = data + static_cast<std::size_t>(csize);
    }
    if (at + 4 > b.size() || (get<std::uint32_t>(b, at, path) != 0x02014b50 && get<std::uint32_t>(b, at, path) != 0x06054b50))
        throw std::runtime_error(path + ": not a valid npz archive (no ZIP central directory where expected)");
    return out;
}

}  // namespace moelab
