"""An independent full CROWN (Zhang et al. 2018) for a ReLU MLP in PyTorch float64, for the cross-check in
tests/test_torch_crosscheck.cpp. Reads an .npz with w0..w{n-1}, b0..b{n-1} (layer i: W [out, in]), relu
(1 where a ReLU follows layer i), x [d], y, eps (L-inf), writes margins.npz with the lower bounds of
F_y - F_j for every j (entry y 0).

Every pre-activation that feeds a ReLU is bounded by back-substitution to the input box (interval bounds of
the first layer are exact), intersected with interval arithmetic on the previous layer's bounds; lower ReLU
slope 1 where u >= -l, else 0; upper line u (z - l) / (u - l)."""
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def main(path, out):
    d = np.load(path)
    n = int(sum(1 for k in d.files if k.startswith("w")))
    W = [torch.tensor(d[f"w{i}"]) for i in range(n)]
    b = [torch.tensor(d[f"b{i}"]) for i in range(n)]
    relu = [bool(v) for v in d["relu"]]
    x = torch.tensor(d["x"])
    y = int(d["y"])
    eps = float(d["eps"])
    lo, hi = x - eps, x + eps
    pre = []  # bounds of each layer's output

    def relax(l, u, a):
        """slope and intercept per unit for coefficients a [K, m] (lower bound of a . relu(z))."""
        dead, active = u <= 0, l >= 0
        unstable = ~(dead | active)
        s_up = torch.where(unstable, u / torch.where(unstable, u - l, torch.ones_like(u)), torch.zeros_like(u))
        low = torch.where(u >= -l, torch.ones_like(u), torch.zeros_like(u))
        slope = torch.where(a >= 0, low.expand_as(a), s_up.expand_as(a))
        icpt = torch.where(a >= 0, torch.zeros_like(a), (-s_up * l).expand_as(a))
        slope = torch.where(active.expand_as(a), torch.ones_like(a), slope)
        slope = torch.where(dead.expand_as(a), torch.zeros_like(a), slope)
        icpt = torch.where(unstable.expand_as(a), icpt, torch.zeros_like(a))
        return slope, icpt

    def back(lam, top):
        const = torch.zeros(lam.shape[0])
        for i in range(top, -1, -1):
            const = const + lam @ b[i]
            lam = lam @ W[i]
            if i > 0 and relu[i - 1]:
                l, u = pre[i - 1]
                slope, icpt = relax(l, u, lam)
                const = const + (lam * icpt).sum(1)
                lam = lam * slope
        return const + lam.clamp(min=0) @ lo + lam.clamp(max=0) @ hi

    for i in range(n):
        if i == 0:
            plo, phi = lo, hi
        else:
            plo, phi = pre[i - 1]
            if relu[i - 1]:
                plo, phi = plo.clamp(min=0), phi.clamp(min=0)
        mid, rad = (plo + phi) / 2, (phi - plo) / 2
        c, r = W[i] @ mid + b[i], W[i].abs() @ rad
        l, u = c - r, c + r
        if i > 0 and relu[i]:
            m = W[i].shape[0]
            eye = torch.eye(m)
            l = torch.maximum(l, back(eye, i))
            u = torch.minimum(u, -back(-eye, i))
        pre.append((l, u))
    C = W[-1].shape[0]
    lam = torch.zeros(C, C)
    for j in range(C):
        lam[j, y] += 1.0
        lam[j, j] -= 1.0
    m = back(lam, n - 1)
    m[y] = 0.0
    np.savez(out, margins=m.numpy())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
