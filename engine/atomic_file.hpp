// moelab engine: files that are either complete or absent.
//
// write_file_atomic writes to "<path>.tmp.<pid>" in the same directory, fsyncs it and renames it over
// `path`, so a reader (or a run killed mid-write) never sees half a file. On failure the temporary
// file is removed and std::runtime_error "cannot write <path>: <reason>" is thrown.
#pragma once

#include <string>

namespace moelab {

void write_file_atomic(const std::string& path, const std::string& bytes);
// Whole file as bytes; throws std::runtime_error "cannot open <path>: <reason>".
std::string read_file(const std::string& path);

}  // namespace moelab
