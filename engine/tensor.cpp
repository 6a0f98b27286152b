#include "engine/tensor.hpp"

#include <malloc.h>

#include <cstring>

namespace moelab {

namespace {
// Tensors of a training step are freed and allocated again at every step, with the same sizes. By
// default glibc serves blocks above 128 KiB with mmap and gives them back to the OS on free, so every
// step pays fresh page faults on every large buffer (docs/performance.md measured 14-33% of a PyTorch step). Keeping
// such blocks in the heap, and not trimming it, lets the next step reuse them warm. Runs at load time.
const bool g_allocator_tuned = [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
}();
}  // namespace

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::vector<std::int64_t>(dims)) {}

Shape::Shape(const std::vector<std::int64_t>& dims) {
    if (dims.size() > static_cast<std::size_t>(kMaxRank))
        throw ShapeError("shape: rank " + std::to_string(dims.size()) + " exceeds the maximum of 4");
    for (std::size_t i = 0; i < dims.size(); ++i) {
        if (dims[i] < 0) throw ShapeError("shape: negative dimension " + std::to_string(dims[i]));
        dims_[i] = dims[i];
    }
    rank_ = static_cast<int>(dims.size());
}

std::int64_t Shape::operator[](int axis) const {
    return dims_[static_cast<std::size_t>(normalize_axis(axis, rank_, "shape"))];
}

std::int64_t Shape::numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
}

std::int64_t Shape::rows() const { return rank_ == 0 ? 1 : numel() / (cols() == 0 ? 1 : cols()); }
std::int64_t Shape::cols() const { return rank_ == 0 ? 1 : dims_[static_cast<std::size_t>(rank_ - 1)]; }

std::string Shape::str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
        if (i) s += ", ";
        s += std::to_string(dims_[static_cast<std::size_t>(i)]);
    }
    return s + "]";
}

bool Shape::operator==(const Shape& o) const {
    if (rank_ != o.rank_) return false;
    for (int i = 0; i < rank_; ++i)
        if (dims_[static_cast<std::size_t>(i)] != o.dims_[static_cast<std::size_t>(i)]) return false;
    return true;
}

int normalize_axis(int axis, int rank, const char* op) {
    int a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank)
        throw ShapeError(std::string(op) + ": axis " + std::to_string(axis) + " out of range for rank " +
                         std::to_string(rank));
    return a;
}

Tensor::Tensor(Shape shape, double fill) : shape_(shape), data_(static_cast<std::size_t>(shape.numel()), fill) {}

Tensor::Tensor(Shape shape, std::vector<double> data) : shape_(shape), data_(std::move(data)) {
    if (static_cast<std::int64_t>(data_.size()) != shape_.numel())
        throw ShapeError("tensor: shape " + shape_.str() + " needs " + std::to_string(shape_.numel()) +
                         " elements, got " + std::to_string(data_.size()));
}

double Tensor::item() const {
    if (data_.size() != 1) throw ShapeError("item: tensor of shape " + shape_.str() + " is not a single element");
    return data_[0];
}

Tensor Tensor::reshaped(Shape s) const {
    if (s.numel() != numel())
        throw ShapeError("reshape: cannot view shape " + shape_.str() + " as " + s.str());
    return Tensor(s, data_);
}

void Tensor::fill(double v) { std::fill(data_.begin(), data_.end(), v); }

bool Tensor::bitwise_equal(const Tensor& o) const {
    return shape_ == o.shape_ &&
           (data_.empty() || std::memcmp(data_.data(), o.data_.data(), data_.size() * sizeof(double)) == 0);
}

void require_same_shape(const Shape& a, const Shape& b, const char* op) {
    if (a != b) throw ShapeError(std::string(op) + ": shapes " + a.str() + " and " + b.str() + " differ");
}

}  // namespace moelab
