#!/usr/bin/env python3
"""Drives python/moelab_torch.py for tests/test_torch_model_file.cpp.

  torch_model_file.py roundtrip DIR N   for i < N: load DIR/model_<i>.npz, write its logits and input gradients on
                                        DIR/x.npz's (x, y) to DIR/out_<i>.npz and save it again as DIR/saved_<i>.npz
                                        (twice: the bytes must be equal); every DIR/bad_*.npz must be refused with
                                        a ValueError naming the file
  torch_model_file.py train DIR         train a small MoE (top-1, gate 1) in PyTorch on DIR/train.npz (from `moelab data --export`),
                                        save it as DIR/torch_model.npz, its logits and input gradients on
                                        DIR/test.npz to DIR/torch_out.npz
Exit code 3 when torch is not installed.
"""
import os
import sys

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"torch_model_file: {e}", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import moelab_torch  # noqa: E402


def outputs(model, x, y):
    with torch.no_grad():
        logits = model(x)
    return {"logits": logits.numpy(), "grad": moelab_torch.input_gradient(model, x, y).numpy()}


def roundtrip(d, n):
    data = np.load(os.path.join(d, "x.npz"))
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    for i in range(n):
        model = moelab_torch.load(os.path.join(d, f"model_{i}.npz"))
        np.savez(os.path.join(d, f"out_{i}.npz"), **outputs(model, x, y))
        saved = os.path.join(d, f"saved_{i}.npz")
        moelab_torch.save(model, saved)
        moelab_torch.save(moelab_torch.load(saved), saved + ".again")
        if open(saved, "rb").read() != open(saved + ".again", "rb").read():
            sys.exit(f"saving {saved} twice gave different bytes")
    for name in sorted(os.listdir(d)):
        if name.startswith("bad_"):
            path = os.path.join(d, name)
            try:
                moelab_torch.load(path)
            except ValueError as e:
                if path not in str(e):
                    sys.exit(f"the error for {path} does not name it: {e}")
                continue
            sys.exit(f"moelab_torch.load accepted {path}")


def train(d):
    torch.manual_seed(0)
    tr, te = np.load(os.path.join(d, "train.npz")), np.load(os.path.join(d, "test.npz"))
    x, y = torch.from_numpy(tr["x"]), torch.from_numpy(tr["y"])
    config = moelab_torch.model_config(kind="moe", input_dim=x.shape[1], classes=int(y.max()) + 1, width=8, hidden=6,
                                       experts=2, top_k=1, gate="topk-softmax")
    model = moelab_torch.MoelabModel(config)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    moelab_torch.save(model, os.path.join(d, "torch_model.npz"))
    np.savez(os.path.join(d, "torch_out.npz"),
             **outputs(model, torch.from_numpy(te["x"]), torch.from_numpy(te["y"])))


if __name__ == "__main__":
    if sys.argv[1] == "roundtrip":
        roundtrip(sys.argv[2], int(sys.argv[3]))
    else:
        train(sys.argv[2])
