#include "theory/check/p2_check.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

#include "engine/ops.hpp"
#include "theory/check/check_internal.hpp"
#include "theory/exact/exact.hpp"

namespace moelab {

namespace {

Var chain_var(const MapChain& chain, Var h) {
    for (std::size_t i = 0; i < chain.size(); ++i) {
        if (i > 0) h = relu(h);
        h = linear(h, Var(chain[i].w), Var(chain[i].b));
    }
    return h;
}

void softmax_in_place(Tensor& z) {
    for (std::int64_t b = 0; b < z.rows(); ++b) {
        double mx = -std::numeric_limits<double>::infinity(), sum = 0.0;
        for (std::int64_t c = 0; c < z.cols(); ++c) mx = std::max(mx, z.at(b, c));
        for (std::int64_t c = 0; c < z.cols(); ++c) sum += (z.at(b, c) = std::exp(z.at(b, c) - mx));
        for (std::int64_t c = 0; c < z.cols(); ++c) z.at(b, c) /= sum;
    }
}

bool soft(const Network& net) { return net.stages.front().moe.gate == GateMode::soft; }

}  // namespace

AttackModel p2_mixture_attack_model(const Classifier& model, Box domain) {
    auto net = std::make_shared<Network>(network_of(model));
    if (!net->model_level()) throw std::invalid_argument("P2's mixture: a model-level MoE is required");
    // Hard top-1: F = a_sel softmax(f_sel) has the argmax of the selected expert's logits, the model's own.
    if (!soft(*net) && net->stages.front().moe.k == 1) return classifier_attack_model(model, domain);
    if (!soft(*net)) throw std::invalid_argument("P2's mixture: attacks are built for soft or top-1 routing only");
    AttackModel m;
    m.domain = domain;
    m.logits = [net](const Var& x) {
        const MoEStage& s = net->stages.front().moe;
        const Var a = softmax(linear(x, Var(s.router.w), Var(s.router.b)));
        const std::int64_t E = s.experts_count();
        Var F;
        for (std::int64_t i = 0; i < E; ++i) {
            Tensor pick(Shape{E, 1}, 0.0);
            pick[i] = 1.0;
            const Var part = scale_rows(softmax(chain_var(s.experts[static_cast<std::size_t>(i)], x)), matmul(a, Var(pick)));
            F = i == 0 ? part : add(F, part);
        }
        return log(add_scalar(F, 1e-300));
    };
    return m;
}

std::vector<std::int64_t> p2_mixture_predictions(const Network& net, const Tensor& x) {
    const MoEStage& s = net.stages.front().moe;
    Tensor a = apply_affine(s.router, x);
    const std::int64_t B = x.rows(), E = s.experts_count();
    std::vector<Tensor> p;
    for (const auto& chain : s.experts) {
        Tensor z = apply_chain(chain, x);
        softmax_in_place(z);
        p.push_back(std::move(z));
    }
    softmax_in_place(a);
    std::vector<std::int64_t> out(static_cast<std::size_t>(B));
    for (std::int64_t b = 0; b < B; ++b) {
        std::int64_t best = 0;
        double best_v = -1.0;
        for (std::int64_t c = 0; c < net.classes; ++c) {
            double v = 0.0;
            for (std::int64_t e = 0; e < E; ++e) v += a.at(b, e) * p[static_cast<std::size_t>(e)].at(b, c);
            if (v > best_v) { best_v = v; best = c; }
        }
        out[static_cast<std::size_t>(b)] = best;
    }
    return out;
}

std::vector<P2CheckRow> run_p2_check(const Classifier& model, const Dataset& data, const CheckOptions& o) {
    const Network net = network_of(model);
    P2Options po;
    po.domain = o.domain;
    const std::vector<P2Radius> radii = p2_equation8_radii(net, data.x, data.y, po);
    const AttackModel F = p2_mixture_attack_model(model, o.domain);
    const bool hard_top1 = !soft(net);
    const std::vector<std::int64_t> clean = hard_top1 ? argmax_rows(attack_logits(F, data.x)) : p2_mixture_predictions(net, data.x);
    // Soft routing: an attack point counts only where the double-precision mixture misclassifies it.
    const check_detail::PointCheck verified = [&](std::size_t i, const double* point) {
        if (hard_top1) return true;
        const Tensor p(Shape{1, data.dim()}, std::vector<double>(point, point + data.dim()));
        return p2_mixture_predictions(net, p).front() != data.y[i];
    };
    const check_detail::AttackDistances attack = check_detail::best_attack_distances(F, data, clean, o, verified);
    const bool exact = hard_top1 && o.exact && exact_support(model).empty();
    std::vector<P2CheckRow> rows(static_cast<std::size_t>(data.size()));
    for (std::size_t i = 0; i < rows.size(); ++i) {
        P2CheckRow& r = rows[i];
        r.label = data.y[i];
        r.clean_pred = clean[i];
        r.radius = radii[i];
        r.attack = attack.distance[i];
        r.attack_name = attack.name[i];
        if (!exact) continue;
        const auto d = data.dim();
        const Tensor xi(Shape{1, d}, std::vector<double>(data.x.data() + static_cast<std::int64_t>(i) * d, data.x.data() + static_cast<std::int64_t>(i + 1) * d));
        const ExactResult e = exact_min_distance_linf(model, xi, r.label, o.exact_options);
        r.exact_status = to_string(e.status);
        if (e.status == ExactStatus::optimal) r.exact = e.upper;
    }
    return rows;
}

}  // namespace moelab
