// moelab moe: how many parameters a configuration asks for, before anything is allocated.
//
// A checkpoint's metadata or a flag can ask for 1e8 experts or 1e9 classes; building that model would
// allocate until the machine gives out. parameter_lower_bound counts weight matrices only (no biases, no
// norms), in double precision so that no product overflows; a real model has at least this many.
#pragma once

#include "moe/model.hpp"

namespace moelab {

double parameter_lower_bound(const ModelConfig& c);

}  // namespace moelab
