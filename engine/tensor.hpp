// moelab engine: the float64 tensor.
//
// A Tensor is a plain value: a shape of up to 4 dimensions and a contiguous row-major
// std::vector<double>. Copying a Tensor copies its data. There are no views and no strides:
// every op writes a fresh contiguous result, which keeps the autograd and the OpenMP loops simple.
//
// Errors: shape problems throw moelab::ShapeError whose message names the op and both shapes,
// e.g. "add: shapes [128, 10] and [12] do not broadcast".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace moelab {

struct ShapeError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// A shape of 0 to 4 dimensions. Rank 0 is a scalar with one element.
class Shape {
public:
    static constexpr int kMaxRank = 4;

    Shape() = default;
    Shape(std::initializer_list<std::int64_t> dims);
    explicit Shape(const std::vector<std::int64_t>& dims);

    int rank() const { return rank_; }
    std::int64_t operator[](int axis) const;   // negative axes count from the end
    std::int64_t numel() const;
    std::vector<std::int64_t> dims() const { return {dims_.begin(), dims_.begin() + rank_}; }
    // Rows and columns of the 2-D view [prod(dims[0..rank-2]), dims[rank-1]]; a scalar is [1, 1].
    std::int64_t rows() const;
    std::int64_t cols() const;
    std::string str() const;                   // "[128, 784]"
    bool operator==(const Shape& o) const;
    bool operator!=(const Shape& o) const { return !(*this == o); }

private:
    std::array<std::int64_t, kMaxRank> dims_{};
    int rank_ = 0;
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

// Normalises a possibly negative axis against a rank; throws ShapeError naming `op` when out of range.
int normalize_axis(int axis, int rank, const char* op);

class Tensor {
public:
    Tensor() = default;                                        // empty: rank 0, no data
    explicit Tensor(Shape shape, double fill = 0.0);
    Tensor(Shape shape, std::vector<double> data);             // throws if sizes differ

    static Tensor scalar(double v) { return Tensor(Shape{}, std::vector<double>{v}); }
    static Tensor zeros_like(const Tensor& t) { return Tensor(t.shape(), 0.0); }

    const Shape& shape() const { return shape_; }
    std::int64_t numel() const { return static_cast<std::int64_t>(data_.size()); }
    bool empty() const { return data_.empty(); }
    std::int64_t rows() const { return shape_.rows(); }
    std::int64_t cols() const { return shape_.cols(); }

    double* data() { return data_.data(); }
    const double* data() const { return data_.data(); }
    std::vector<double>& vec() { return data_; }
    const std::vector<double>& vec() const { return data_; }
    double& operator[](std::int64_t i) { return data_[static_cast<std::size_t>(i)]; }
    double operator[](std::int64_t i) const { return data_[static_cast<std::size_t>(i)]; }
    double& at(std::int64_t r, std::int64_t c) { return data_[static_cast<std::size_t>(r * cols() + c)]; }
    double at(std::int64_t r, std::int64_t c) const { return data_[static_cast<std::size_t>(r * cols() + c)]; }
    double item() const;                                       // the single element; throws unless numel()==1

    // Same data, new shape with the same number of elements (throws ShapeError otherwise).
    Tensor reshaped(Shape s) const;
    void fill(double v);
    // True when shapes match and every element has identical bits (NaN payloads included).
    bool bitwise_equal(const Tensor& o) const;

private:
    Shape shape_;
    std::vector<double> data_;
};

// Throws ShapeError "op: shapes A and B differ" unless a and b have the same shape.
void require_same_shape(const Shape& a, const Shape& b, const char* op);

}  // namespace moelab
