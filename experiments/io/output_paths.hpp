// moelab command line: checking output paths before the work, not after it.
//
// `eval --ckpt d/model.ckpt --out d/model.ckpt` once replaced the checkpoint with JSON, and an unwritable
// --out was found only after minutes of attacks. These checks run first: an output may not be (the same
// file as) an input, its directory must exist and accept a new file (probed by creating and removing
// one), and a file output may not be a directory. Errors are std::invalid_argument naming the flags.
#pragma once

#include <string>
#include <vector>

namespace moelab::cli {

struct NamedPath {
    std::string flag;   // "--ckpt"
    std::string path;
};

// True when both paths exist and are the same file (same device and inode: links and ./ spellings too).
bool same_file(const std::string& a, const std::string& b);

// `out` (given by `flag`) will be written as a file: refuses a directory, a path equal to an input and a
// directory where no file can be created.
void require_output_file(const std::string& flag, const std::string& out, const std::vector<NamedPath>& inputs);

// `dir` (given by `flag`) will receive the files `names`: creates it if needed, then refuses a file of it
// that is an input and a directory where no file can be created.
void require_output_dir(const std::string& flag, const std::string& dir, const std::vector<std::string>& names,
                        const std::vector<NamedPath>& inputs);

// A command that fails after require_output_dir created its directory leaves nothing behind: moelab's error
// handler removes each directory created so, if it is still empty.
void remove_created_empty_dirs();

}  // namespace moelab::cli
