#!/usr/bin/env python3
"""torch.optim's Adam and AdamW on given gradients, for the optimizer cross-check test.

Usage: torch_adam.py IN.npz OUT.npz
IN.npz holds p0 [n] (initial parameters), grads [steps, n] (the gradient fed at each step) and
config [6] = (kind: 0 Adam, 1 AdamW; lr; beta1; beta2; eps; weight_decay). OUT.npz gets "p", the
parameters after every step, [steps, n]. Exit code 3 when torch is not installed (the test then skips).
"""
import sys

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"torch_adam: {e}", file=sys.stderr)
    sys.exit(3)


def main():
    d = np.load(sys.argv[1])
    kind, lr, beta1, beta2, eps, wd = (float(v) for v in d["config"])
    p = torch.tensor(d["p0"], dtype=torch.float64, requires_grad=True)
    cls = torch.optim.AdamW if kind == 1 else torch.optim.Adam
    opt = cls([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
    trace = []
    for g in d["grads"]:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        trace.append(p.detach().numpy().copy())
    np.savez(sys.argv[2], p=np.stack(trace))


if __name__ == "__main__":
    main()
