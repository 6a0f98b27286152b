#include "moe/divergence.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/finite_check.hpp"

namespace moelab {

namespace {

[[noreturn]] void diverged(const std::string& why, int epoch, long step) {
    throw std::runtime_error("training diverged: " + why + " at epoch " + std::to_string(epoch) + ", step " +
                             std::to_string(step) + "; the last checkpoint holds the last good epoch");
}

}  // namespace

DivergenceWatch::DivergenceWatch(std::int64_t classes, long steps_per_epoch)
    : limit_(kDivergedLossFactor * std::log(static_cast<double>(std::max<std::int64_t>(classes, 2)))),
      needed_(std::max(1L, std::min(kDivergedSteps, steps_per_epoch))) {}

void DivergenceWatch::after_step(const ParamRegistry& params, double ce, int epoch, long step) {
    for (const auto& p : params.all()) {
        const std::int64_t i = first_non_finite(p.var.value());
        if (i >= 0) diverged("weight '" + p.name + "' is " + non_finite_name(p.var.value().data()[i]), epoch, step);
    }
    above_ = ce > limit_ ? above_ + 1 : 0;
    if (above_ >= needed_)
        diverged("the loss stayed above " + std::to_string(static_cast<long>(limit_)) + " (" +
                     std::to_string(static_cast<long>(kDivergedLossFactor)) + " x ln(classes)) for " + std::to_string(above_) +
                     " steps, last " + std::to_string(ce),
                 epoch, step);
}

}  // namespace moelab
