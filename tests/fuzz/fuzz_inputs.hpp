// moelab fuzzing: how one fuzz input becomes calls to the parsers. Shared by the libFuzzer targets
// (tests/fuzz/fuzz_*.cpp) and the replay test (tests/test_fuzz_crashers.cpp), so a saved input runs
// exactly as the fuzzer ran it.
//
// Each *_calls function decodes the input, writes the file a path-taking reader needs, and returns the
// parser calls to run in order. A call may throw std::exception (the readers' documented errors);
// anything else -- a crash, a sanitizer report, a hang, another exception type -- is a finding.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/checkpoint.hpp"
#include "engine/clusters.hpp"
#include "engine/idx.hpp"
#include "engine/npz.hpp"
#include "moe/model.hpp"
#include "moe/model_file.hpp"
#include "moe/model_io.hpp"
#include "moe/train.hpp"
#include "theory/exact/exact.hpp"
#include "theory/bounds/ibp.hpp"
#include "theory/bounds/lipschitz.hpp"

namespace moelab::fuzz {

struct ParserCall {
    std::string parser;            // the reader's name, e.g. "read_npz"
    std::function<void()> run;
};

// A file under /tmp private to this process (the IDX, checkpoint and npz readers take paths).
inline std::string scratch_path(const std::string& owner) {
    return "/tmp/moelab_fuzz_" + owner + "_" + std::to_string(getpid());
}

// Writes a new file each time: truncating and rewriting the old one makes ext4 flush it to disk on
// close (auto_da_alloc), which slowed the fuzzers to a few hundred inputs a second.
inline void write_bytes(const std::string& path, const std::uint8_t* data, std::size_t size) {
    std::remove(path.c_str());
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw std::runtime_error("fuzz harness: cannot write " + path);
    const bool ok = (size == 0 || std::fwrite(data, 1, size, f) == size);
    if (std::fclose(f) != 0 || !ok) throw std::runtime_error("fuzz harness: cannot write " + path);
}

// What gzip(1) makes of `data` (windowBits 15 + 16 selects the gzip wrapper); fastest level, since the
// point is only to get past the gzip layer.
inline std::string gzip(const std::uint8_t* data, std::size_t size) {
    z_stream z{};
    if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("fuzz harness: deflateInit2 failed");
    std::string out(deflateBound(&z, static_cast<uLong>(size)), '\0');
    z.next_in = const_cast<Bytef*>(data);
    z.avail_in = static_cast<uInt>(size);
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) throw std::runtime_error("fuzz harness: deflate failed");
    return out;
}

// fuzz_idx. First byte: bit 0 set gzips the rest before writing it, so that mutations reach the IDX
// header and payload checks instead of dying in gzip's checksum; clear writes the rest as it is, which
// exercises gzip corruption (and plain IDX, which zlib's transparent mode reads by design, idx.hpp).
// Bit 1 picks read_idx_labels instead of read_idx_images.
inline std::vector<ParserCall> idx_calls(const std::uint8_t* data, std::size_t size, const std::string& path) {
    const std::uint8_t mode = size > 0 ? data[0] : 0;
    const std::uint8_t* body = size > 0 ? data + 1 : data;
    const std::size_t body_size = size > 0 ? size - 1 : 0;
    if (mode & 1) {
        const std::string z = gzip(body, body_size);
        write_bytes(path, reinterpret_cast<const std::uint8_t*>(z.data()), z.size());
    } else {
        write_bytes(path, body, body_size);
    }
    if (mode & 2) return {{"read_idx_labels", [path] { read_idx_labels(path); }}};
    return {{"read_idx_images", [path] {
                 std::int64_t rows = 0, cols = 0;
                 read_idx_images(path, &rows, &cols);
             }}};
}

// fuzz_checkpoint. First byte: bit 0 picks read_npz instead of read_checkpoint. For checkpoints, bit 1
// set rewrites the trailing CRC-32 to match the mutated body: otherwise nearly every mutation stops at
// the checksum and the tensor parsing behind it is never reached.
inline std::vector<ParserCall> checkpoint_calls(const std::uint8_t* data, std::size_t size, const std::string& path) {
    const std::uint8_t mode = size > 0 ? data[0] : 0;
    std::string file(reinterpret_cast<const char*>(data), size);
    if (size > 0) file.erase(0, 1);
    if ((mode & 1) == 0 && (mode & 2) && file.size() >= 4) {
        const std::size_t body = file.size() - 4;
        const auto crc = static_cast<std::uint32_t>(
            crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(file.data()), static_cast<uInt>(body)));
        std::memcpy(file.data() + body, &crc, 4);   // little-endian, as checkpoint.cpp stores it
    }
    write_bytes(path, reinterpret_cast<const std::uint8_t*>(file.data()), file.size());
    if (mode & 1) return {{"read_npz", [path] { read_npz(path); }}, {"read_model_file", [path] { read_model_file(path); }}};
    return {{"read_checkpoint", [path] { read_checkpoint(path); }}};
}

// fuzz_model: what comes after parsing. The input is a checkpoint as for fuzz_checkpoint (bit 1 of the
// first byte fixes the CRC); load_model builds the model from its metadata and loads the weights, then a
// forward pass and the certificates run on it. Bits 2-4 of the first byte overwrite the first weight with
// inf, NaN or 1e300 after loading (a model built in memory: the certificates must refuse the first two and
// stay finite or refuse on the third), bit 5 adds the exact MILP (a few hundred weights at most).
inline std::vector<ParserCall> model_calls(const std::uint8_t* data, std::size_t size, const std::string& path) {
    const std::uint8_t mode = size > 0 ? data[0] : 0;
    std::string file(reinterpret_cast<const char*>(data), size);
    if (size > 0) file.erase(0, 1);
    if ((mode & 2) && file.size() >= 4) {
        const std::size_t body = file.size() - 4;
        const auto crc = static_cast<std::uint32_t>(
            crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(file.data()), static_cast<uInt>(body)));
        std::memcpy(file.data() + body, &crc, 4);
    }
    write_bytes(path, reinterpret_cast<const std::uint8_t*>(file.data()), file.size());
    const auto saved = std::make_shared<SavedModel>();
    const auto x = std::make_shared<Tensor>();
    std::vector<ParserCall> calls{{"load_model", [path, saved, x, mode] {
                                       *saved = load_model(path);
                                       const std::int64_t d = saved->model->config().input_dim;
                                       *x = Tensor(Shape{2, d}, 0.25);
                                       Var w = saved->model->params().all().front().var;
                                       if (mode & 4) w.value().data()[0] = std::numeric_limits<double>::infinity();
                                       if (mode & 8) w.value().data()[0] = std::numeric_limits<double>::quiet_NaN();
                                       if (mode & 16) w.value().data()[0] = 1e300;
                                   }},
                                  {"forward", [saved, x] {
                                       if (!saved->model) throw std::runtime_error("no model");
                                       NoGradGuard no_grad;
                                       saved->model->forward(Var(*x), ForwardOptions{});
                                   }},
                                  {"certify_lipschitz", [saved, x, mode] {
                                       if (!saved->model) throw std::runtime_error("no model");
                                       const Network net = network_of(*saved->model);
                                       for (const Norm p : {Norm::l2, Norm::linf}) {
                                           lipschitz_upper(net, p);
                                           certify_lipschitz(net, *x, {0, 1}, p);
                                       }
                                       if (mode & 12) std::abort();   // a certificate for a non-finite weight: unsound
                                   }},
                                  {"ibp_certified_radii", [saved, x, mode] {
                                       if (!saved->model) throw std::runtime_error("no model");
                                       ibp_certified_radii(network_of(*saved->model), *x, {0, 1}, Box{});
                                       if (mode & 12) std::abort();
                                   }}};
    if (mode & 32)
        calls.push_back({"exact_min_distance_linf", [saved, x, mode] {
                             if (!saved->model || saved->model->params().numel() > 400) throw std::runtime_error("skipped");
                             ExactOptions o;
                             o.time_limit_s = 0.5;
                             exact_min_distance_linf(*saved->model, *x, 0, o);
                             if (mode & 12) std::abort();
                         }});
    return calls;
}

// fuzz_config. The whole input is the text: parsed as JSON and handed to both config readers (a failed
// parse leaves null, which they must refuse too), and given to parse_cluster_spec as a --data string.
inline std::vector<ParserCall> config_calls(const std::uint8_t* data, std::size_t size) {
    const auto text = std::make_shared<const std::string>(reinterpret_cast<const char*>(data), size);
    const auto json = std::make_shared<nlohmann::json>();
    return {{"nlohmann::json::parse", [text, json] { *json = nlohmann::json::parse(*text); }},
            {"model_config_from_json", [json] { model_config_from_json(*json); }},
            {"train_config_from_json", [json] { train_config_from_json(*json); }},
            {"parse_cluster_spec", [text] { parse_cluster_spec(*text); }}};
}

// Runs every call, swallowing the documented exceptions: what the libFuzzer targets do per input.
inline void run_ignoring_errors(const std::vector<ParserCall>& calls) {
    for (const auto& call : calls) {
        try {
            call.run();
        } catch (const std::exception&) {
        }
    }
}

// Removes the scratch file when the fuzzer exits normally (-max_total_time, -runs).
struct ScratchFile {
    std::string path;
    explicit ScratchFile(const std::string& owner) : path(scratch_path(owner)) {}
    ~ScratchFile() { std::remove(path.c_str()); }
};

}  // namespace moelab::fuzz
