#!/usr/bin/env python3
"""Independent forward pass of a moelab classifier in PyTorch float64, for cross-check tests.

Usage: torch_forward.py MODEL.npz CONFIG.json INPUT.npz OUTPUT.npz
Reads the parameters exported by moelab (PyTorch's Linear layout: weight [out, in]), the model config
(moelab's ModelConfig JSON), inputs x [B, d] from INPUT.npz, and writes logits [B, classes] to
OUTPUT.npz under the name "logits". Written from docs/theory.md's definitions, not from moelab's code.
Exit code 3 when torch is not installed (the test then skips).
"""
import json
import sys

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"torch_forward: {e}", file=sys.stderr)
    sys.exit(3)


def linear(p, name, x):
    y = x @ p[name + ".weight"].T
    if name + ".bias" in p:
        y = y + p[name + ".bias"]
    return y


def mlp(p, name, x):
    i = 1
    while name + f".fc{i}.weight" in p:
        if i > 1:
            x = torch.relu(x)
        x = linear(p, name + f".fc{i}", x)
        i += 1
    return x


def moe(p, name, cfg, x):
    E, k, gate = cfg["experts"], cfg["top_k"], cfg["gate"]
    s = linear(p, name + ".router.proj", x)
    probs = torch.softmax(s, dim=1)
    if gate == "soft":
        k = E
    out = torch.zeros(x.shape[0], mlp(p, name + ".experts.0", x[:1]).shape[1], dtype=torch.float64)
    for b in range(x.shape[0]):
        # top-k with ties toward the lower index: stable sort on -score
        order = sorted(range(E), key=lambda i: (-s[b, i].item(), i))[:k]
        if gate == "topk-softmax":
            g = torch.softmax(s[b, order], dim=0)
        else:
            g = probs[b, order]
        for j, i in enumerate(order):
            out[b] += g[j] * mlp(p, name + f".experts.{i}", x[b : b + 1])[0]
    return out


def forward(p, cfg, x):
    if cfg["kind"] == "moe-model":
        return moe(p, "moe", cfg, x)
    h = torch.relu(linear(p, "stem", x))
    blocks = cfg["moe_blocks"]
    for b in range(cfg["depth"]):
        if b > 0:
            h = torch.relu(h)
        is_moe = cfg["kind"] == "moe" and (not blocks or b in blocks)
        h = moe(p, f"blocks.{b}.moe", cfg, h) if is_moe else mlp(p, f"blocks.{b}.ffn", h)
    return linear(p, "head", h)


def main():
    model, config, inputs, output = sys.argv[1:5]
    p = {k: torch.from_numpy(v) for k, v in np.load(model).items()}
    cfg = json.load(open(config))
    x = torch.from_numpy(np.load(inputs)["x"])
    with torch.no_grad():
        logits = forward(p, cfg, x)
    np.savez(output, logits=logits.numpy())


if __name__ == "__main__":
    main()
