#!/usr/bin/env python3
"""torch.optim's Adam and AdamW on given gradients, for the optimizer cross-check test.

Usage: torch_adam.py IN.npz OUT.npz
IN.npz holds p0 [n] (initial parameters), grads [steps, n] (the gradient fed at each step) and
config [cases, 6], one row per run = (kind: 0 Adam, 1 AdamW; lr; beta1; beta2; eps; weight_decay).
OUT.npz gets "p", the parameters after every step of every run, [cases, steps, n]. Exit code 3 when torch is not installed (the test then skips).
"""
import sys

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"torch_adam: {e}", file=sys.stderr)
    sys.exit(3)


def run(p0, grads, config):
    kind, lr, beta1, beta2, eps, wd = (float(v) for v in config)
    p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
    cls = torch.optim.AdamW if kind == 1 else torch.optim.Adam
    opt = cls([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
    trace = []
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        trace.append(p.detach().numpy().copy())
    return np.stack(trace)


def main():
    d = np.load(sys.argv[1])
    np.savez(sys.argv[2], p=np.stack([run(d["p0"], d["grads"], c) for c in d["config"]]))


if __name__ == "__main__":
    main()
