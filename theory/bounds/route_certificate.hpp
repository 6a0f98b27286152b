// moelab theory: is a certified ball route-stable? For every sample, a radius within which no router of the
// model changes its selection, and the class the sample falls in for a given certificate:
//   certified and route-stable               the certified ball lies inside the route-stable ball
//   certified but crossing a routing boundary the certified ball reaches a point where some router selects
//                                            differently (sound certificates still hold there: they bound every
//                                            routing; certificates that assume fixed routing do not)
//   not certified                            radius 0 (or NaN: the method does not cover the model)
// Where the radius comes from (RouteSource):
//   model-level MoE with a hard router: the exact L-inf distance to the nearest routing change inside the input
//     box (theory/bounds/route_stability.hpp, rational arithmetic)
//   layer-level MoE with a hard router (the router reads hidden features): a sound lower bound. Interval bounds
//     (theory/bounds/ibp.hpp, routing uncertainty of earlier MoE stages included) on every router's input over the
//     ball; the routing is fixed on the ball when some set S of k experts has, for every i in S and j outside,
//     an upper bound of s_j - s_i below 0 (rounding charged); the largest such radius by doubling and bisection.
//   soft routing everywhere: +inf (the weights are continuous; there is no boundary to cross)
//   no MoE: "no router" (NaN radius)
// Derivation: docs/p2-certificate.md ("Route stability").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "theory/network/geometry.hpp"
#include "theory/network/network.hpp"

namespace moelab {

enum class RouteSource { no_router, soft_routing, exact_affine, ibp_lower_bound };
const char* to_string(RouteSource source);   // "no router", "soft routing", "exact", "IBP lower bound"

struct RouteRadii {
    RouteSource source = RouteSource::no_router;
    std::vector<double> radius;   // per row, L-inf; +inf: no routing change reachable; NaN: no router
};

// Per row of x ([B, d], inside domain). `iters`: bisection steps of the IBP bound. Deterministic: the rows are
// bounded together, each with its own radius, in a fixed order.
RouteRadii route_stable_radii(const Network& net, const Tensor& x, Box domain, int iters = 30);

// The IBP lower bound alone, for any network with a hard router (route_stable_radii uses it for layer-level MoEs;
// tests hold it against the exact radius of model-level ones). 0 where the test fails at the point itself.
std::vector<double> route_stable_radii_ibp(const Network& net, const Tensor& x, Box domain, int iters = 30);

// The IBP test alone (exposed for tests): per row, true when no hard router of net can change its selection
// anywhere in the box of radius r[b] around row b (intersected with domain).
std::vector<std::uint8_t> routing_fixed_on_boxes(const Network& net, const Tensor& x, const std::vector<double>& r, Box domain);

enum class RouteClass { stable, crossing, not_certified, no_router };
const char* to_string(RouteClass c);   // "route-stable", "crossing", "not-certified", "no-router"

// A certified radius (0 or NaN: not certified) against the route-stable radius of its sample. The ball of a
// certificate r is route-stable when r <= route_stable (the open ball of the route-stable radius has no change).
RouteClass route_class(double certified, double route_stable, RouteSource source);

struct RouteCounts {
    std::int64_t stable = 0, crossing = 0, not_certified = 0, no_router = 0;
};
RouteCounts count_route_classes(const std::vector<double>& certified, const RouteRadii& route);
// "12 certified & route-stable, 3 certified but crossing a routing boundary, 5 not certified" (or "... no router").
std::string describe(const RouteCounts& c);
nlohmann::json to_json(const RouteCounts& c);

}  // namespace moelab
