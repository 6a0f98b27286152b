#include "experiments/io/data_spec.hpp"

#include <stdexcept>

#include "engine/bounded_read.hpp"
#include "engine/clusters.hpp"
#include "engine/idx.hpp"

namespace moelab::cli {

DataSplits load_data(const std::string& spec, std::int64_t train_limit, std::int64_t test_limit) {
    DataSplits d;
    if (spec == "fashion-mnist") {
        d.train = load_fashion_mnist(kFashionMnistDir, true, train_limit);
        d.test = load_fashion_mnist(kFashionMnistDir, false, test_limit);
        d.images = true;
        return d;
    }
    if (spec.rfind("clusters", 0) == 0) {
        ClusterSpec c = parse_cluster_spec(spec);
        const std::int64_t n_train = c.samples, n_test = std::max<std::int64_t>(1, c.samples / 4);
        c.samples = n_train + n_test;
        // The samples, then the train and test copies: three times samples x d doubles.
        require_memory(static_cast<std::uint64_t>(std::min(3.0 * static_cast<double>(c.samples) * c.dim * sizeof(double), 1.8e19)),
                       "--data " + spec);
        const Dataset all = make_clusters(c);
        d.train = subset(all, 0, train_limit >= 0 ? std::min(train_limit, n_train) : n_train);
        d.test = subset(all, n_train, test_limit >= 0 ? std::min(test_limit, n_test) : n_test);
        return d;
    }
    throw std::invalid_argument("--data: unknown data set '" + spec + "' (expected fashion-mnist or clusters:K=..,d=..)");
}

}  // namespace moelab::cli
