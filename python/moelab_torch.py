"""moelab_torch: moelab's self-describing model files (model.npz) as PyTorch modules, in float64.

    import moelab_torch
    model = moelab_torch.load("run/model.npz")   # a torch.nn.Module, in eval mode
    logits = model(x)                            # x [B, input_dim] float64, scaled as model.conventions says
    moelab_torch.save(model, "copy.npz")         # moelab certify/attack/check/eval --ckpt copy.npz read it

A model built here (MoelabModel(config)) and trained in PyTorch is saved the same way. The forward pass is
moelab's, routing included: top-k with ties to the lower expert index (a stable descending sort), the three gate
modes, expert capacity with moelab's admission order, router noise in training mode only. The file format is
described in docs/model-format.md. Depends on torch and numpy only.
"""
import io
import json
import math
import os
import zipfile

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

FORMAT = "moelab-model-file"
VERSION = 1
META = "__moelab__"
KINDS = ("mlp", "moe", "moe-model")
GATES = ("softmax-topk", "topk-softmax", "soft")
# moelab's ModelConfig defaults; every key of the "model" object, no other.
DEFAULTS = {"kind": "moe", "input_dim": 784, "classes": 10, "width": 128, "depth": 1, "hidden": 256, "experts": 8,
            "top_k": 2, "gate": "softmax-topk", "noisy": False, "router": "learned", "capacity_factor": 0.0,
            "moe_blocks": [], "dropout": 0.0, "seed": 1}
CONVENTIONS = {"tie_rule": "lower-index", "input_scale": 1.0, "input_domain": None, "class_names": []}
MAX_PARAMETERS = 2 ** 40


def model_config(**kwargs):
    """A complete, checked "model" object: moelab's defaults overridden by kwargs."""
    return _checked_config(dict(DEFAULTS, **kwargs))


def _checked_config(cfg):
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"model config: unknown key '{unknown[0]}'")
    cfg = dict(DEFAULTS, **cfg)
    for key in ("input_dim", "classes", "width", "depth", "hidden", "experts", "top_k", "seed"):
        if isinstance(cfg[key], bool) or not isinstance(cfg[key], int):
            raise ValueError(f"model config: key '{key}' must be an integer, got {cfg[key]!r}")
    def require(ok, what):
        if not ok:
            raise ValueError("model config: " + what)
    require(cfg["kind"] in KINDS, f"kind must be one of {KINDS}, got {cfg['kind']!r}")
    require(cfg["gate"] in GATES, f"gate must be one of {GATES}, got {cfg['gate']!r}")
    # "frozen": the router is not trained (P2's released code); the forward pass is the same.
    require(cfg["router"] in ("learned", "frozen"), f"router must be learned or frozen, got {cfg['router']!r}")
    require(cfg["input_dim"] >= 1 and cfg["width"] >= 1 and cfg["depth"] >= 1, "sizes must be positive")
    require(cfg["classes"] >= 2, "classes: need at least 2")
    require(cfg["hidden"] >= 0, "hidden must be >= 0")
    if cfg["kind"] != "mlp":
        require(1 <= cfg["top_k"] <= cfg["experts"], "top_k must be in [1, experts]")
    require(isinstance(cfg["noisy"], bool), "noisy must be true or false")
    require(math.isfinite(float(cfg["capacity_factor"])), "capacity_factor must be finite")
    require(0.0 <= float(cfg["dropout"]) < 1.0, "dropout must be in [0, 1)")
    require(all(isinstance(b, int) and 0 <= b < cfg["depth"] for b in cfg["moe_blocks"]), "moe_blocks outside [0, depth)")
    dense_blocks = cfg["kind"] == "mlp" or (cfg["kind"] == "moe" and cfg["moe_blocks"] and len(set(cfg["moe_blocks"])) < cfg["depth"])
    require(cfg["hidden"] >= 1 or not dense_blocks, "FFN blocks need a positive hidden width")
    require(parameter_count(cfg) <= MAX_PARAMETERS, "the sizes ask for more than 2^40 parameters")
    cfg["capacity_factor"] = float(cfg["capacity_factor"])
    cfg["dropout"] = float(cfg["dropout"])
    return cfg


def _is_moe_block(cfg, b):
    return cfg["kind"] == "moe" and (not cfg["moe_blocks"] or b in cfg["moe_blocks"])


def parameter_count(cfg):
    """The number of parameters a model of this config has (as moelab counts them), without building it."""
    def linear(i, o, bias=True):
        return i * o + (o if bias else 0)
    def moe(d, o):
        E, h = cfg["experts"], cfg["hidden"]
        expert = linear(d, h) + linear(h, o) if h > 0 else linear(d, o)
        return linear(d, E) + (linear(d, E, False) if cfg["noisy"] else 0) + E * expert
    if cfg["kind"] == "moe-model":
        return moe(cfg["input_dim"], cfg["classes"])
    w, h = cfg["width"], cfg["hidden"]
    n = linear(cfg["input_dim"], w) + linear(w, cfg["classes"])
    for b in range(cfg["depth"]):
        n += moe(w, w) if _is_moe_block(cfg, b) else linear(w, h) + linear(h, w)
        if n > MAX_PARAMETERS:
            break
    return n


def _linear(i, o, bias=True):
    return nn.Linear(i, o, bias=bias, dtype=torch.float64)


class MLP(nn.Module):
    """fc1, fc2, ...: ReLU (then dropout when training) between layers, none after the last."""

    def __init__(self, sizes, dropout=0.0):
        super().__init__()
        self.depth, self.p = len(sizes) - 1, dropout
        for i in range(self.depth):
            setattr(self, f"fc{i + 1}", _linear(sizes[i], sizes[i + 1]))

    def forward(self, x):
        for i in range(self.depth):
            x = getattr(self, f"fc{i + 1}")(x)
            if i + 1 < self.depth:
                x = F.dropout(torch.relu(x), self.p, self.training)
        return x


class Router(nn.Module):
    """Scores s = proj(x); with noisy gating, training adds N(0, 1) * softplus(noise(x)) (Shazeer et al. 2017)."""

    def __init__(self, dim, experts, noisy, frozen=False):
        super().__init__()
        self.frozen = frozen
        self.proj = _linear(dim, experts)
        if noisy:
            self.noise = _linear(dim, experts, bias=False)

    def forward(self, x):
        s = self.proj(x)
        if self.training and self.frozen:   # a frozen router keeps its initialisation: no gradient reaches it
            s = s.detach()
        if self.training and hasattr(self, "noise"):
            s = s + torch.randn_like(s) * F.softplus(self.noise(x))
        return s


def capacity_mask(order, experts, capacity_factor):
    """[B, k] bool, False where expert capacity drops the slot: C = ceil(c * B * k / E) slots per expert,
    admitted first choices in row order, then second choices, and so on (moelab's moe/capacity.hpp).
    Capacity limits training only: at inference every slot is kept, as in moelab."""
    rows, k = order.shape
    kept = torch.ones(rows, k, dtype=torch.bool)
    if capacity_factor <= 0.0:
        return kept
    cap = math.ceil(capacity_factor * float(rows * k) / float(experts))
    load, chosen = [0] * experts, order.tolist()
    for j in range(k):
        for b in range(rows):
            e = chosen[b][j]
            if load[e] < cap:
                load[e] += 1
            else:
                kept[b, j] = False
    return kept


class MoELayer(nn.Module):
    """F(x) = sum over the row's kept top-k experts of g_i(x) e_i(x), experts added in ascending index order."""

    def __init__(self, cfg, dim, out):
        super().__init__()
        self.gate, self.k, self.capacity_factor = cfg["gate"], cfg["top_k"], cfg["capacity_factor"]
        self.n_experts, self.out = cfg["experts"], out
        self.router = Router(dim, cfg["experts"], cfg["noisy"], cfg["router"] == "frozen")
        sizes = [dim, cfg["hidden"], out] if cfg["hidden"] > 0 else [dim, out]
        self.experts = nn.ModuleList([MLP(sizes, cfg["dropout"]) for _ in range(cfg["experts"])])

    def route(self, x):
        """(order [B, k] experts highest score first, ties to the lower index; gates [B, k]; kept [B, k])."""
        s = self.router(x)
        k = self.n_experts if self.gate == "soft" else self.k
        order = torch.sort(s.detach(), dim=1, descending=True, stable=True).indices[:, :k]
        if self.gate == "topk-softmax":
            gates = torch.softmax(s.gather(1, order), dim=1)
        else:
            gates = torch.softmax(s, dim=1).gather(1, order)
        capacity = self.capacity_factor if self.training else 0.0
        return order, gates, capacity_mask(order, self.n_experts, capacity)

    def forward(self, x):
        order, gates, kept = self.route(x)
        y = torch.zeros(x.shape[0], self.out, dtype=x.dtype)
        for e in range(self.n_experts):
            rows, slots = ((order == e) & kept).nonzero(as_tuple=True)
            if rows.numel() > 0:
                y = y.index_add(0, rows, gates[rows, slots].unsqueeze(1) * self.experts[e](x[rows]))
        return y


class Block(nn.Module):
    def __init__(self, cfg, is_moe):
        super().__init__()
        w = cfg["width"]
        if is_moe:
            self.moe = MoELayer(cfg, w, w)
        else:
            self.ffn = MLP([w, cfg["hidden"], w], cfg["dropout"])

    def forward(self, h):
        return self.moe(h) if hasattr(self, "moe") else self.ffn(h)


class MoelabModel(nn.Module):
    """A moelab classifier: kind "mlp" and "moe": x -> ReLU(stem) -> blocks (ReLU between) -> head;
    kind "moe-model": one MoE layer input -> classes whose experts are whole classifiers.
    Parameter names are moelab's, so state_dict() is the model file's tensors."""

    def __init__(self, config, conventions=None, data=None):
        super().__init__()
        self.config = _checked_config(config)
        self.conventions = _checked_conventions(conventions or {}, self.config["classes"])
        self.data = data
        cfg = self.config
        if cfg["kind"] == "moe-model":
            self.moe = MoELayer(cfg, cfg["input_dim"], cfg["classes"])
            return
        self.stem = _linear(cfg["input_dim"], cfg["width"])
        self.blocks = nn.ModuleList([Block(cfg, _is_moe_block(cfg, b)) for b in range(cfg["depth"])])
        self.head = _linear(cfg["width"], cfg["classes"])

    def forward(self, x):
        if self.config["kind"] == "moe-model":
            return self.moe(x)
        h = F.dropout(torch.relu(self.stem(x)), self.config["dropout"], self.training)
        for b, block in enumerate(self.blocks):
            h = block(torch.relu(h) if b > 0 else h)
        return self.head(h)


def _checked_conventions(conv, classes):
    unknown = sorted(set(conv) - set(CONVENTIONS))
    if unknown:
        raise ValueError(f"conventions: unknown key '{unknown[0]}'")
    conv = dict(CONVENTIONS, **conv)
    if conv["tie_rule"] != "lower-index":
        raise ValueError(f"conventions: tie_rule must be 'lower-index', got {conv['tie_rule']!r}")
    scale = conv["input_scale"]
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"conventions: input_scale must be a positive finite number, got {scale!r}")
    dom = conv["input_domain"]
    if dom is not None and not (len(dom) == 2 and all(math.isfinite(v) for v in dom) and dom[0] < dom[1]):
        raise ValueError(f"conventions: input_domain must be None or [lo, hi] with lo < hi, got {dom!r}")
    names = list(conv["class_names"])
    if names and (len(names) != classes or not all(isinstance(n, str) for n in names)):
        raise ValueError(f"conventions: class_names must be {classes} strings or empty")
    return {"tie_rule": "lower-index", "input_scale": float(scale),
            "input_domain": None if dom is None else [float(dom[0]), float(dom[1])], "class_names": names}


def save(module, path):
    """Writes `module` (a MoelabModel) to `path` as a model file, atomically; refuses non-finite weights."""
    if not isinstance(module, MoelabModel):
        raise TypeError(f"save: expected a moelab_torch.MoelabModel, got {type(module).__name__}")
    arrays = {}
    for name, t in module.state_dict().items():
        a = t.detach().to(torch.float64).cpu().numpy()
        if not np.isfinite(a).all():
            raise ValueError(f"save: tensor '{name}' holds a non-finite value")
        arrays[name] = a
    meta = {"format": FORMAT, "version": VERSION, "model": module.config, "conventions": module.conventions}
    if module.data:
        meta["data"] = module.data
    arrays[META] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        _write_npz(tmp, arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_npz(path, arrays):
    """numpy.savez's archive with fixed timestamps: the same module gives the same bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())


def load(path):
    """The MoelabModel in model file `path`, in eval mode. Raises ValueError naming the file and the entry
    on a missing or unknown entry, another format version, a shape mismatch or a non-finite value."""
    with np.load(path, allow_pickle=False) as z:
        if META not in z.files:
            raise ValueError(f"{path}: no '{META}' entry: not a self-describing moelab model file")
        meta = json.loads(bytes(z[META]).decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{path}: '{META}' format is not '{FORMAT}'")
        if meta.get("version") != VERSION:
            raise ValueError(f"{path}: model file version {meta.get('version')!r} is not supported (expected {VERSION})")
        cfg = _checked_config(meta["model"])
        names = [n for n in z.files if n != META]
        held = sum(int(np.prod(z[n].shape)) for n in names)
        if held != parameter_count(cfg):
            raise ValueError(f"{path}: the model config needs {parameter_count(cfg)} parameters, the file holds {held}")
        model = MoelabModel(cfg, meta.get("conventions"), meta.get("data"))
        expected = model.state_dict()
        state = {}
        for n in names:
            a = z[n]
            if n not in expected:
                raise ValueError(f"{path}: unknown tensor '{n}' (not a parameter of this model)")
            if a.dtype != np.float64 or tuple(a.shape) != tuple(expected[n].shape):
                raise ValueError(f"{path}: tensor '{n}' is {a.dtype} {list(a.shape)}, expected float64 {list(expected[n].shape)}")
            if not np.isfinite(a).all():
                raise ValueError(f"{path}: tensor '{n}' holds a non-finite value")
            state[n] = torch.from_numpy(a.copy())
        missing = sorted(set(expected) - set(state))
        if missing:
            raise ValueError(f"{path}: missing tensor '{missing[0]}'")
    model.load_state_dict(state, strict=True)
    return model.eval()


def input_gradient(model, x, y):
    """Row i: the gradient of sample i's cross-entropy loss at its label y[i] with respect to x[i] (what
    `moelab eval --dump-input-grad` writes). Routing choices are piecewise constant: no gradient through them."""
    x = x.detach().clone().requires_grad_(True)
    F.cross_entropy(model(x), y, reduction="sum").backward()
    return x.grad
