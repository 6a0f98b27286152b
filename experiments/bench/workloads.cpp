#include "experiments/bench/workloads.hpp"

#include <filesystem>
#include <memory>
#include <stdexcept>

#include "engine/idx.hpp"
#include "engine/nn.hpp"
#include "engine/optim.hpp"
#include "engine/rng.hpp"
#include "moe/model.hpp"
#include "theory/attacks/attack.hpp"

namespace moelab::bench {

namespace {

constexpr std::int64_t kBatch = 128, kTestImages = 10000, kPixels = 784;

std::uint64_t fnv1a(std::uint64_t h, const Tensor& t) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(t.data());
    for (std::size_t i = 0; i < static_cast<std::size_t>(t.numel()) * sizeof(double); ++i) {
        h ^= bytes[i];
        h *= 1099511628211ULL;
    }
    return h;
}

std::uint64_t hash_params(const ParamRegistry& params) {
    std::uint64_t h = 1469598103934665603ULL;
    for (const auto& p : params.all()) h = fnv1a(h, p.var.value());
    return h;
}

// The W2 model (docs/performance.md): Linear 784->128 (ReLU), one MoE layer with E=8 ReLU-MLP experts
// 128->256->128, softmax router, top-2, gate = softmax probability; Linear 128->10.
ModelConfig w2_config() {
    ModelConfig c;
    c.kind = ModelKind::moe;
    c.input_dim = kPixels;
    c.classes = 10;
    c.width = 128;
    c.depth = 1;
    c.hidden = 256;
    c.experts = 8;
    c.top_k = 2;
    c.gate = GateMode::softmax_then_topk;
    c.seed = 1;
    return c;
}

OptimizerConfig adam() {
    OptimizerConfig o;
    o.kind = OptimizerKind::adam;
    o.lr = 1e-3;
    return o;
}

Workload dense_train_step(const BenchData& data) {
    struct State {
        ParamRegistry params;
        MLP mlp;
        std::unique_ptr<Optimizer> opt;
    };
    auto s = std::make_shared<State>();
    s->mlp = MLP::create(s->params, "mlp", {kPixels, 256, 256, 10}, Rng(1));
    s->opt = std::make_unique<Optimizer>(s->params, adam());
    Workload w;
    w.id = "W1";
    w.what = "dense MLP 784-256-256-10 train step, batch 128, Adam";
    w.initial_weights = collect(s->params);
    const Var x(data.train_x);   // the batch is an input made once, as a PyTorch user holds one tensor
    w.run = [s, x, &data] {
        s->opt->zero_grad();
        Var loss = cross_entropy(s->mlp.forward(x), data.train_y);
        backward(loss);
        s->opt->step();
    };
    w.result_hash = [s] { return hash_params(s->params); };
    return w;
}

Workload moe_train_step(const BenchData& data) {
    struct State {
        std::unique_ptr<Classifier> model;
        std::unique_ptr<Optimizer> opt;
        std::uint64_t step = 0;
    };
    auto s = std::make_shared<State>();
    s->model = std::make_unique<Classifier>(w2_config());
    s->opt = std::make_unique<Optimizer>(s->model->params(), adam());
    Workload w;
    w.id = "W2";
    w.what = "MoE E=8 k=2 train step (experts 128-256-128), batch 128, Adam, LB 0.01";
    w.initial_weights = collect(s->model->params());
    const Var x(data.train_x);
    w.run = [s, x, &data] {
        s->opt->zero_grad();
        ForwardOptions fo;
        fo.training = true;
        fo.rng = Rng(1).split("step").split(s->step++);
        const ModelOutput out = s->model->forward(x, fo);
        Var loss = cross_entropy(out.logits, data.train_y);
        loss = add(loss, s->model->aux_loss(out, 0.01, 0.0, BalanceConvention::top1));
        backward(loss);
        s->opt->step();
    };
    w.result_hash = [s] { return hash_params(s->model->params()); };
    return w;
}

// W3: L-inf PGD on the W2 model, eps 0.1, step 0.01, 10 steps, random start, batch 256, inputs in [0, 1].
Workload moe_pgd(const BenchData& data) {
    constexpr std::int64_t kAttackBatch = 256;
    struct State {
        std::unique_ptr<Classifier> model;
        Tensor x;
        std::vector<int> y;
        Tensor x_adv;
    };
    auto s = std::make_shared<State>();
    s->model = std::make_unique<Classifier>(w2_config());
    s->x = Tensor(Shape{kAttackBatch, kPixels});
    std::copy(data.test_x.data(), data.test_x.data() + kAttackBatch * kPixels, s->x.data());
    s->y.assign(data.test_y.begin(), data.test_y.begin() + kAttackBatch);
    Workload w;
    w.id = "W3";
    w.what = "L-inf PGD-10 on the W2 model, eps 0.1, step 0.01, random start, batch 256";
    w.initial_weights = collect(s->model->params());
    w.run = [s] {
        AttackOptions o;
        o.norm = Norm::linf;
        o.eps = 0.1;
        o.step_size = 0.01;
        o.steps = 10;
        o.seed = 1;
        s->x_adv = pgd(classifier_attack_model(*s->model, kImageBox), s->x, s->y, o).x_adv;
    };
    w.result_hash = [s] { return fnv1a(1469598103934665603ULL, s->x_adv); };
    return w;
}

Workload moe_inference(const BenchData& data) {
    struct State {
        std::unique_ptr<Classifier> model;
        Tensor logits;
    };
    auto s = std::make_shared<State>();
    s->model = std::make_unique<Classifier>(w2_config());
    Workload w;
    w.id = "W4";
    w.what = "W2 model inference, 10 000 test images in one batch";
    w.initial_weights = collect(s->model->params());
    const Var x(data.test_x);
    w.run = [s, x] {
        NoGradGuard no_grad;
        s->logits = s->model->forward(x).logits.value();
    };
    w.result_hash = [s] { return fnv1a(1469598103934665603ULL, s->logits); };
    return w;
}

}  // namespace

BenchData make_bench_data() {
    BenchData d;
    const std::string dir = kFashionMnistDir;
    if (std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) {
        const Dataset train = load_fashion_mnist(dir, true, kBatch);
        const Dataset test = load_fashion_mnist(dir, false, kTestImages);
        d.train_x = train.x;
        d.train_y = train.y;
        d.test_x = test.x;
        d.test_y = test.y;
        d.source = "fashion-mnist";
        return d;
    }
    const Rng rng(20261127);
    d.train_x = Tensor(Shape{kBatch, kPixels});
    d.test_x = Tensor(Shape{kTestImages, kPixels});
    const Rng a = rng.split("train"), b = rng.split("test");
    for (std::int64_t i = 0; i < d.train_x.numel(); ++i) d.train_x.data()[i] = a.uniform(static_cast<std::uint64_t>(i));
    for (std::int64_t i = 0; i < d.test_x.numel(); ++i) d.test_x.data()[i] = b.uniform(static_cast<std::uint64_t>(i));
    for (std::int64_t i = 0; i < kBatch; ++i) d.train_y.push_back(static_cast<int>(i % 10));
    for (std::int64_t i = 0; i < kTestImages; ++i) d.test_y.push_back(static_cast<int>(i % 10));
    d.source = "uniform-random";
    return d;
}

std::vector<NamedTensor> to_named(const BenchData& data) {
    auto labels = [](const std::vector<int>& v) {
        Tensor t(Shape{static_cast<std::int64_t>(v.size())});
        for (std::size_t i = 0; i < v.size(); ++i) t.data()[i] = v[i];
        return t;
    };
    return {{"train_x", data.train_x}, {"train_y", labels(data.train_y)}, {"test_x", data.test_x}, {"test_y", labels(data.test_y)}};
}

BenchData bench_data_from_named(const std::vector<NamedTensor>& tensors, const std::string& path) {
    BenchData d;
    Tensor y, ty;
    for (const auto& t : tensors) {
        if (t.name == "train_x") d.train_x = t.tensor;
        else if (t.name == "train_y") y = t.tensor;
        else if (t.name == "test_x") d.test_x = t.tensor;
        else if (t.name == "test_y") ty = t.tensor;
    }
    if (d.train_x.numel() == 0 || y.numel() == 0 || d.test_x.numel() == 0 || ty.numel() == 0)
        throw std::runtime_error(path + ": expected arrays train_x, train_y, test_x and test_y");
    for (std::int64_t i = 0; i < y.numel(); ++i) d.train_y.push_back(static_cast<int>(y.data()[i]));
    for (std::int64_t i = 0; i < ty.numel(); ++i) d.test_y.push_back(static_cast<int>(ty.data()[i]));
    d.source = path;
    return d;
}

const std::vector<std::string>& workload_ids() {
    static const std::vector<std::string> ids{"W1", "W2", "W3", "W4"};
    return ids;
}

Workload make_workload(const std::string& id, const BenchData& data) {
    if (id == "W1") return dense_train_step(data);
    if (id == "W2") return moe_train_step(data);
    if (id == "W3") return moe_pgd(data);
    if (id == "W4") return moe_inference(data);
    throw std::invalid_argument("--workload: unknown workload '" + id + "' (expected W1, W2, W3 or W4)");
}

}  // namespace moelab::bench
