// moelab moe: noticing that a training run has blown up.
//
// A NaN or infinite loss stops training at once (train.cpp). Adam and AdamW at an absurd learning rate do
// not reach NaN: the normalised step keeps weights finite (~5e6) while the loss settles near 1e26. So a run
// is also declared diverged when
//   - a weight is NaN or infinite after a step, or
//   - its cross-entropy stays above kDivergedLossFactor * ln(C) (C classes; ln C is the loss of a uniform
//     guess, where training starts) for kDivergedSteps consecutive steps of one epoch (all the epoch's
//     steps when it has fewer).
// The count restarts with each epoch, and --resume starts at an epoch boundary, so a resumed run stops at
// the same step as an uninterrupted one.
#pragma once

#include <cstdint>

#include "engine/params.hpp"

namespace moelab {

inline constexpr double kDivergedLossFactor = 1000.0;
inline constexpr long kDivergedSteps = 20;

class DivergenceWatch {
public:
    DivergenceWatch(std::int64_t classes, long steps_per_epoch);
    void new_epoch() { above_ = 0; }
    // After a step (epoch and step 1-based): throws std::runtime_error "training diverged: ...; the last
    // checkpoint holds the last good epoch".
    void after_step(const ParamRegistry& params, double ce, int epoch, long step);

private:
    double limit_;
    long needed_, above_ = 0;
};

}  // namespace moelab
