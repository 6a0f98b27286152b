#!/usr/bin/env python3
"""PyTorch float64 peer of moelab's benchmark workloads (docs/performance.md), run by moelab_bench.

Usage: torch_peer.py --workload W1|W2|W3|W4 --threads T --warmup W --reps R --data DATA.npz --init INIT.npz
Loads the inputs and the initial weights that moelab_bench exported, so both sides do the same work
(same routing, same expert batch sizes), and prints one JSON line: the times in ms and the peak RSS.
Written as a PyTorch user would write these models (eager mode, nn.Linear, torch.optim.Adam).
"""
import argparse
import json
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_linear(layer, p, name):
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(p[name + ".weight"]))
        layer.bias.copy_(torch.from_numpy(p[name + ".bias"]))


class DenseMLP(nn.Module):
    """W1: 784-256-256-10, ReLU."""

    def __init__(self, p):
        super().__init__()
        self.fc = nn.ModuleList([nn.Linear(784, 256), nn.Linear(256, 256), nn.Linear(256, 10)])
        for i, layer in enumerate(self.fc):
            load_linear(layer, p, f"mlp.fc{i + 1}")

    def forward(self, x):
        x = F.relu(self.fc[0](x))
        x = F.relu(self.fc[1](x))
        return self.fc[2](x)


class MoEClassifier(nn.Module):
    """W2: Linear 784->128, ReLU, MoE (E=8 experts 128->256->128, softmax router, top-2, gate = softmax
    probability), Linear 128->10; returns logits and the Switch load-balancing loss."""

    def __init__(self, p, experts=8, k=2):
        super().__init__()
        self.E, self.k = experts, k
        self.stem = nn.Linear(784, 128)
        self.router = nn.Linear(128, experts)
        self.fc1 = nn.ModuleList([nn.Linear(128, 256) for _ in range(experts)])
        self.fc2 = nn.ModuleList([nn.Linear(256, 128) for _ in range(experts)])
        self.head = nn.Linear(128, 10)
        load_linear(self.stem, p, "stem")
        load_linear(self.router, p, "blocks.0.moe.router.proj")
        for i in range(experts):
            load_linear(self.fc1[i], p, f"blocks.0.moe.experts.{i}.fc1")
            load_linear(self.fc2[i], p, f"blocks.0.moe.experts.{i}.fc2")
        load_linear(self.head, p, "head")

    def forward(self, x):
        h = F.relu(self.stem(x))
        probs = torch.softmax(self.router(h), dim=1)
        gates, chosen = probs.topk(self.k, dim=1)
        y = torch.zeros_like(h)
        for e in range(self.E):
            rows, slots = (chosen == e).nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            ye = self.fc2[e](F.relu(self.fc1[e](h[rows])))
            y = y.index_add(0, rows, ye * gates[rows, slots].unsqueeze(1))
        frac = F.one_hot(chosen[:, 0], self.E).to(probs.dtype).mean(0)
        balance = self.E * (frac * probs.mean(0)).sum()
        return self.head(y), balance


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--data", required=True)
    ap.add_argument("--init", required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_default_dtype(torch.float64)
    d = np.load(a.data)
    p = dict(np.load(a.init).items())
    x = torch.from_numpy(d["train_x"])
    y = torch.from_numpy(d["train_y"]).long()
    test_x = torch.from_numpy(d["test_x"])

    if a.workload == "W1":
        model = DenseMLP(p)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def run():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
    elif a.workload == "W2":
        model = MoEClassifier(p)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def run():
            opt.zero_grad(set_to_none=True)
            logits, balance = model(x)
            (F.cross_entropy(logits, y) + 0.01 * balance).backward()
            opt.step()
    elif a.workload == "W3":
        model = MoEClassifier(p)
        for q in model.parameters():
            q.requires_grad_(False)
        x0 = test_x[:256]
        y0 = torch.from_numpy(d["test_y"][:256]).long()
        gen = torch.Generator().manual_seed(1)

        def run():
            # L-inf PGD: random start, 10 signed-gradient steps of 0.01, projected to the 0.1-ball and [0, 1];
            # then the predictions at the clean and at the final points, as moelab reports them.
            eps, step = 0.1, 0.01
            xa = (x0 + torch.empty_like(x0).uniform_(-eps, eps, generator=gen)).clamp(0, 1)
            for _ in range(10):
                xa.requires_grad_(True)
                logits, _ = model(xa)
                g, = torch.autograd.grad(F.cross_entropy(logits, y0, reduction="sum"), xa)
                with torch.no_grad():
                    xa = torch.min(torch.max(xa + step * g.sign(), x0 - eps), x0 + eps).clamp(0, 1)
            with torch.no_grad():
                model(x0)[0].argmax(1)
                model(xa)[0].argmax(1)
    elif a.workload == "W4":
        model = MoEClassifier(p)

        def run():
            with torch.no_grad():
                model(test_x)
    else:
        print(f"bench_torch: unknown workload {a.workload}", file=sys.stderr)
        return 2

    for _ in range(a.warmup):
        run()
    ms = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        run()
        ms.append((time.perf_counter() - t0) * 1e3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"workload": a.workload, "threads": a.threads, "ms": ms, "peak_rss_mb": rss}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
