#include "engine/checkpoint.hpp"

#include <zlib.h>

#include <cstring>
#include <set>
#include <stdexcept>

#include "engine/atomic_file.hpp"
#include "engine/bounded_read.hpp"
#include "engine/finite_check.hpp"

namespace moelab {

namespace {

constexpr char kMagic[8] = {'M', 'O', 'E', 'L', 'A', 'B', 'C', 'K'};

template <class T>
void put(std::string& out, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));   // the supported platforms are little-endian
    out.append(b, sizeof(T));
}

std::uint32_t crc_of(const char* data, std::size_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        const uInt chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
        crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
        data += chunk;
        n -= chunk;
    }
    return static_cast<std::uint32_t>(crc);
}

// Bounds-checked reader over the file's bytes: each read names what it was reading when it ran out.
class Reader {
public:
    Reader(const std::string& bytes, std::size_t end, const std::string& path) : b_(bytes), end_(end), path_(path) {}
    template <class T>
    T get(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, b_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    std::string bytes(std::size_t n, const char* what) {
        need(n, what);
        std::string s = b_.substr(pos_, n);
        pos_ += n;
        return s;
    }
    void doubles(double* dst, std::uint64_t n, const char* what) {
        if (n > (end_ - pos_) / sizeof(double)) truncated(what);
        if (n == 0) return;   // an empty tensor's dst is null, and memcpy(null, p, 0) is undefined (fuzz_checkpoint)
        std::memcpy(dst, b_.data() + pos_, n * sizeof(double));
        pos_ += n * sizeof(double);
    }
    std::size_t pos() const { return pos_; }

private:
    void need(std::size_t n, const char* what) {
        if (n > end_ - pos_) truncated(what);
    }
    [[noreturn]] void truncated(const char* what) {
        throw std::runtime_error(path_ + ": truncated or corrupt checkpoint (ran out of data reading " + what + ")");
    }
    const std::string& b_;
    std::size_t end_, pos_ = 0;
    const std::string& path_;
};

}  // namespace

const Tensor& Checkpoint::get(const std::string& name) const {
    for (const auto& t : tensors)
        if (t.name == name) return t.tensor;
    throw std::out_of_range("checkpoint has no tensor '" + name + "'");
}

void write_checkpoint(const std::string& path, const Checkpoint& ck) {
    std::string out(kMagic, sizeof kMagic);
    put<std::uint32_t>(out, kCheckpointVersion);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(ck.meta.size()));
    out += ck.meta;
    put<std::uint32_t>(out, static_cast<std::uint32_t>(ck.tensors.size()));
    for (const auto& t : ck.tensors) {
        put<std::uint32_t>(out, static_cast<std::uint32_t>(t.name.size()));
        out += t.name;
        const Shape& s = t.tensor.shape();
        put<std::uint32_t>(out, static_cast<std::uint32_t>(s.rank()));
        for (int i = 0; i < s.rank(); ++i) put<std::uint64_t>(out, static_cast<std::uint64_t>(s[i]));
        out.append(reinterpret_cast<const char*>(t.tensor.data()), static_cast<std::size_t>(t.tensor.numel()) * sizeof(double));
    }
    put<std::uint32_t>(out, crc_of(out.data(), out.size()));
    write_file_atomic(path, out);
}

// Magic and version from the first bytes, before the file's size decides anything (issue: --ckpt /dev/zero
// or a 1 GB junk file was read whole before being refused).
void check_header(const std::string& head, const std::string& path) {
    if (head.size() < sizeof kMagic + 4 || std::memcmp(head.data(), kMagic, sizeof kMagic) != 0)
        throw std::runtime_error(path + ": not a moelab checkpoint (wrong magic; expected \"MOELABCK\")");
    std::uint32_t version;
    std::memcpy(&version, head.data() + sizeof kMagic, 4);
    if (version != kCheckpointVersion)
        throw std::runtime_error(path + ": checkpoint format version " + std::to_string(version) +
                                 " is not supported (this build reads version " + std::to_string(kCheckpointVersion) + ")");
}

Checkpoint read_checkpoint(const std::string& path) {
    check_header(read_prefix(path, sizeof kMagic + 4), path);
    // The bytes and the tensors copied out of them are both held: twice the file.
    const std::string bytes = read_regular_file(path, memory_limit_bytes() / 2, "half the memory limit: a checkpoint is held twice while read");
    check_header(bytes, path);
    if (bytes.size() < sizeof kMagic + 4 + 4 + 4 + 4)
        throw std::runtime_error(path + ": truncated checkpoint (" + std::to_string(bytes.size()) + " bytes)");
    const std::size_t body = bytes.size() - 4;
    std::uint32_t stored;
    std::memcpy(&stored, bytes.data() + body, 4);
    if (stored != crc_of(bytes.data(), body))
        throw std::runtime_error(path + ": checksum mismatch: the checkpoint is corrupt or truncated");
    Reader r(bytes, body, path);
    r.bytes(sizeof kMagic, "the magic");
    r.get<std::uint32_t>("the version");
    Checkpoint ck;
    ck.meta = r.bytes(r.get<std::uint32_t>("the metadata length"), "the metadata");
    const std::uint32_t count = r.get<std::uint32_t>("the tensor count");
    std::set<std::string> names;
    for (std::uint32_t i = 0; i < count; ++i) {
        NamedTensor t;
        t.name = r.bytes(r.get<std::uint32_t>("a tensor name length"), "a tensor name");
        if (!names.insert(t.name).second) throw std::runtime_error(path + ": duplicate tensor '" + t.name + "'");
        const std::uint32_t rank = r.get<std::uint32_t>("a tensor rank");
        if (rank > 4) throw std::runtime_error(path + ": tensor '" + t.name + "' has rank " + std::to_string(rank) + " (at most 4)");
        std::vector<std::int64_t> dims;
        std::uint64_t numel = 1;
        for (std::uint32_t d = 0; d < rank; ++d) {
            const std::uint64_t v = r.get<std::uint64_t>("a tensor dimension");
            if (v > (std::uint64_t{1} << 40) || (v > 0 && numel > (std::uint64_t{1} << 40) / v))
                throw std::runtime_error(path + ": tensor '" + t.name + "' has an implausible size");
            numel *= v;
            dims.push_back(static_cast<std::int64_t>(v));
        }
        if (numel > (body - r.pos()) / sizeof(double))
            throw std::runtime_error(path + ": truncated or corrupt checkpoint (tensor '" + t.name + "' needs " +
                                     std::to_string(numel * sizeof(double)) + " bytes)");
        t.tensor = Tensor(Shape(dims));
        r.doubles(t.tensor.data(), numel, "tensor data");
        require_finite(t.tensor, t.name, path);
        ck.tensors.push_back(std::move(t));
    }
    if (r.pos() != body) throw std::runtime_error(path + ": corrupt checkpoint (unexpected bytes after the last tensor)");
    return ck;
}

std::vector<NamedTensor> collect(const ParamRegistry& params) {
    std::vector<NamedTensor> out;
    for (const auto& p : params.all()) out.push_back({p.name, p.var.value()});
    return out;
}

void load_params(const Checkpoint& ck, ParamRegistry& params, const std::string& path) {
    for (const auto& t : ck.tensors)
        if (!params.contains(t.name))
            throw std::runtime_error(path + ": unknown tensor '" + t.name + "' (not a parameter of this model)");
    std::vector<const Tensor*> source;
    for (const auto& p : params.all()) {
        const Tensor* found = nullptr;
        for (const auto& t : ck.tensors)
            if (t.name == p.name) found = &t.tensor;
        if (!found) throw std::runtime_error(path + ": missing tensor '" + p.name + "'");
        if (found->shape() != p.var.shape())
            throw std::runtime_error(path + ": tensor '" + p.name + "' has shape " + found->shape().str() +
                                     ", model expects " + p.var.shape().str());
        source.push_back(found);
    }
    for (std::size_t i = 0; i < params.all().size(); ++i) {
        Var v = params.all()[i].var;
        v.value() = *source[i];
    }
}

}  // namespace moelab
