#!/usr/bin/python3
"""Independent float64 PyTorch reference of the readout heads, losses, optimiser, schedule and
metrics of WALT_SPEC.md §7 (incl. the normative choices OC1–OC25 of §7.6) and §8.

Written from the spec text (and, for TAP-Vid, tapnet's ``compute_tapvid_metrics``) only; no code
of this project's TypeScript side was read. Plain functions over a ``{canonical_name: tensor}``
dict; autograd gives the gradients; AdamW and the schedule are written out by hand.

Layouts: features ``[T, N, C]`` per clip (batches ``[B, T, N, C]``), weights PyTorch ``[out, in]``.

CLI (Debian's /usr/bin/python3, torch 1.13):
  readout_ref.py info     --head HEAD [--json]
  readout_ref.py init     --head HEAD --scheme flax|test --seed S --out W.safetensors
  readout_ref.py forward  --head HEAD --weights W --features F.npy [--queries Q.npy
                          --query-frames QF.npy] [--grid HxW] --out O.safetensors [--dtype float32]
  readout_ref.py step     --head HEAD --weights W --batch B.safetensors --lr LR [--weight-decay 1e-4]
                          [--warmup 0] [--total-steps N] [--steps S] [--grid HxW] --out W2.safetensors
                          [--grads-out G.safetensors] [--dtype float32]
  readout_ref.py metrics  --task top1|absrel|pose|tapvid|boxes --pred P.safetensors --gt G.safetensors
                          [--json] [--details]
  readout_ref.py selftest
HEAD is a built-in name (imagenet, places365, inat2018, ssv2, k400, k700, camera-pose, depth,
points, boxes) or a path to a head JSON file.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from walt_ref import read_npy  # noqa: E402

LN_EPS = 1e-6  # OC1: every LayerNorm / LN_scale / RMSNorm
STATE_NORM_EPS = 1e-4  # OC1: MooG state_norm
HUBER_DELTA = 4.0 / 256.0  # OC14
CERTAINTY_RADIUS = 6.0 / 256.0  # OC14
ADAM_B1, ADAM_B2, ADAM_EPS = 0.9, 0.999, 1e-8  # OC22
END_LR = 1e-7  # OC23
CUBE_CORNERS = [(x, y, 2.0 + z) for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)]  # OC19
TAPVID_THRESHOLDS = (1, 2, 4, 8, 16)  # OC20, pixels of a 256x256 raster

# ----------------------------------------------------------------------------------------
# Head configurations
# ----------------------------------------------------------------------------------------

KIND_KEYS = {
    "attention": ["C", "P", "heads", "K", "T"],
    "camera": ["C", "P", "heads", "K", "T"],
    "depth": ["C", "nfb", "qkv", "heads", "mlp", "layers"],
    "points": ["C", "n_coords", "n_values", "n_logits", "nfb", "width", "qkv", "heads", "mlp", "layers"],
    "boxes": ["C", "n_coords", "n_values", "n_logits", "nfb", "width", "qkv", "heads", "mlp", "layers"],
}


def _attn(K, P=768, heads=12):
    return {"kind": "attention", "C": 1024, "P": P, "heads": heads, "K": K, "T": 17}


def _tracks(kind, n_coords, n_values):
    return {"kind": kind, "C": 1024, "n_coords": n_coords, "n_values": n_values, "n_logits": 2, "nfb": 16,
            "width": 512, "qkv": 512, "heads": 8, "mlp": 2048, "layers": 3}


_BUILTIN_BODY = {
    "imagenet": _attn(1000),
    "places365": _attn(365),
    "inat2018": _attn(8142),
    "ssv2": _attn(174),
    "k400": _attn(400, 1024, 16),
    "k700": _attn(700, 1024, 16),
    "camera-pose": {"kind": "camera", "C": 2048, "P": 256, "heads": 8, "K": 12, "T": 1},
    "depth": {"kind": "depth", "C": 1024, "nfb": 16, "qkv": 512, "heads": 2, "mlp": 512, "layers": 1},
    "points": _tracks("points", 2, 2),
    "boxes": _tracks("boxes", 4, 4),
}


def _with_prefix(name, body):
    cfg = {"kind": body["kind"], "prefix": f"readout.{name}"}
    cfg.update({k: body[k] for k in KIND_KEYS[body["kind"]]})
    return cfg


BUILTIN = {name: _with_prefix(name, body) for name, body in _BUILTIN_BODY.items()}


def validate_config(cfg: dict, where: str = "head") -> dict:
    """Checks a head config has exactly the keys of its kind and consistent sizes."""
    if not isinstance(cfg, dict) or cfg.get("kind") not in KIND_KEYS:
        raise ValueError(f"{where}: 'kind' must be one of {sorted(KIND_KEYS)}")
    want = {"kind", "prefix", *KIND_KEYS[cfg["kind"]]}
    if set(cfg) != want:
        raise ValueError(f"{where}: keys must be exactly {sorted(want)}, got {sorted(cfg)}")
    if not isinstance(cfg["prefix"], str) or not cfg["prefix"].startswith("readout.") or cfg["prefix"] == "readout.":
        raise ValueError(f"{where}: 'prefix' must be 'readout.<name>'")
    for k in KIND_KEYS[cfg["kind"]]:
        if not isinstance(cfg[k], int) or isinstance(cfg[k], bool) or cfg[k] < 1:
            raise ValueError(f"{where}: '{k}' must be a positive integer")
    kind = cfg["kind"]
    if kind in ("attention", "camera"):
        if cfg["P"] % cfg["heads"]:
            raise ValueError(f"{where}: P must be divisible by heads")
        if kind == "camera" and (cfg["C"] % 2 or cfg["T"] != 1):
            raise ValueError(f"{where}: camera needs an even C (twice the feature width) and T = 1")
    else:
        if cfg["qkv"] % cfg["heads"]:
            raise ValueError(f"{where}: qkv must be divisible by heads")
    return cfg


def load_head(name_or_path: str) -> dict:
    if name_or_path in BUILTIN:
        return dict(BUILTIN[name_or_path])
    with open(name_or_path) as f:
        return validate_config(json.load(f), name_or_path)


def _block_shapes(pre, w, C, qkv, heads, mlp):
    d = qkv // heads
    return [
        (f"{pre}.norm_q.weight", (w,)),
        (f"{pre}.cross_att.dense_query.weight", (qkv, w)),
        (f"{pre}.cross_att.dense_key.weight", (qkv, C)),
        (f"{pre}.cross_att.dense_value.weight", (qkv, C)),
        (f"{pre}.cross_att.norm_query.weight", (d,)),
        (f"{pre}.cross_att.norm_key.weight", (d,)),
        (f"{pre}.cross_att.dense_out.weight", (w, qkv)),
        (f"{pre}.cross_att.dense_out.bias", (w,)),
        (f"{pre}.norm_attn.weight", (w,)),
        (f"{pre}.mlp_in.weight", (mlp, w)),
        (f"{pre}.mlp_in.bias", (mlp,)),
        (f"{pre}.mlp_out.weight", (w, mlp)),
        (f"{pre}.mlp_out.bias", (w,)),
    ]


def _dense(name, out, inp):
    return [(f"{name}.weight", (out, inp)), (f"{name}.bias", (out,))]


def weight_shapes(cfg: dict) -> list[tuple[str, tuple]]:
    """Canonical (name, shape) list in a fixed order (the order of the spec's weight lists)."""
    kind, p = cfg["kind"], cfg["prefix"]
    out = []
    if kind in ("attention", "camera"):
        C, P, H, K, T = cfg["C"], cfg["P"], cfg["heads"], cfg["K"], cfg["T"]
        out += [("feat_norm.weight", (C,)), ("feat_norm.bias", (C,)), ("temporal_posenc", (T, C)),
                ("query", (1, H, P // H))]
        out += _dense("key", P, C) + _dense("value", P, C) + _dense("out", P, P)
        out += [("mlp_norm.weight", (P,)), ("mlp_norm.bias", (P,))]
        out += _dense("mlp.fc1", 4 * P, P) + _dense("mlp.fc2", P, 4 * P) + _dense("head", K, P)
    elif kind == "depth":
        C, w = cfg["C"], cfg["C"] + 4 * cfg["nfb"]
        for i in range(cfg["layers"]):
            out += _block_shapes(f"transformer.layer_{i}", w, C, cfg["qkv"], cfg["heads"], cfg["mlp"])
        out += [("transformer.norm_encoder.weight", (w,))] + _dense("recon", 1, w)
    else:
        C, w = cfg["C"], cfg["width"]
        out += _dense("init.fc1", w, 2 * cfg["n_coords"] * cfg["nfb"]) + _dense("init.fc2", w, w)
        out += _dense("backbone.in_proj", w, w)
        for i in range(cfg["layers"]):
            out += _block_shapes(f"backbone.layer_{i}", w, C, cfg["qkv"], cfg["heads"], cfg["mlp"])
        out += [("backbone.norm_encoder.weight", (w,))] + _dense("backbone.out_proj", w, w)
        out += _dense("predictor.fc1", w, w) + _dense("predictor.fc2", w, w)
        out += [("state_norm.weight", (w,))]
        out += _dense("out_values.fc1", w, w) + _dense("out_values.fc2", cfg["n_values"], w)
        out += _dense("out_logits.fc1", w, w) + _dense("out_logits.fc2", cfg["n_logits"], w)
    return [(f"{p}.{n}", s) for n, s in out]


def param_count(cfg: dict) -> int:
    return sum(math.prod(s) for _, s in weight_shapes(cfg))


def attention_param_formula(C, P, K, T):
    """§7.1's closed form (with T instead of 17)."""
    return (2 * C + T * C + P + 2 * (C * P + P) + (P * P + P) + 2 * P + (4 * P * P + 4 * P) + (4 * P * P + P)
            + (P * K + K))


def _local(cfg, name):
    return name[len(cfg["prefix"]) + 1:]


def is_norm_scale(local: str) -> bool:
    """Norm scales: feat_norm / mlp_norm / norm_q / norm_attn / norm_query / norm_key / norm_encoder /
    state_norm ``.weight``."""
    if not local.endswith(".weight"):
        return False
    return "norm" in local[: -len(".weight")].split(".")[-1]


def init_params(cfg: dict, scheme: str = "test", seed: int = 0) -> dict[str, torch.Tensor]:
    """OC24. Draws in canonical order from one torch.Generator(seed), in float64, stored as float32.

    test: every tensor N(0, 0.05); norm scales 1 + N(0, 0.05).
    flax: Dense kernels lecun-normal truncated at ±2σ (σ = sqrt(1/fan_in)/0.87962566),
          biases (incl. LayerNorm biases) 0, norm scales 1, query and temporal_posenc N(0, 0.02).
    """
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in weight_shapes(cfg):
        local = _local(cfg, name)
        if scheme == "test":
            t = torch.randn(shape, generator=g, dtype=torch.float64) * 0.05
            if is_norm_scale(local):
                t = t + 1.0
        elif scheme == "flax":
            if is_norm_scale(local):
                t = torch.ones(shape, dtype=torch.float64)
            elif local.endswith(".bias"):
                t = torch.zeros(shape, dtype=torch.float64)
            elif local in ("query", "temporal_posenc"):
                t = torch.randn(shape, generator=g, dtype=torch.float64) * 0.02
            else:
                std = math.sqrt(1.0 / shape[1]) / 0.87962566103423978
                lo, hi = 0.5 * (1 + math.erf(-2 / math.sqrt(2))), 0.5 * (1 + math.erf(2 / math.sqrt(2)))
                u = lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)
                t = math.sqrt(2.0) * torch.erfinv(2 * u - 1) * std
        else:
            raise ValueError(f"--scheme must be 'flax' or 'test', got {scheme!r}")
        out[name] = t.to(torch.float32)
    return out


# ----------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------

def layer_norm(x, weight, bias=None, eps=LN_EPS):
    """Full LayerNorm over the last axis (biased variance); bias None = LN_scale (OC2)."""
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    y = (x - mu) / torch.sqrt(var + eps) * weight
    return y if bias is None else y + bias


def rms_norm(x, weight, eps=LN_EPS):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def gelu(x):
    """tanh approximation (OC3)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def dense(W, name, x):
    return x @ W[name + ".weight"].T + W[name + ".bias"]


def mlp2(W, name, x):
    """fc2(gelu(fc1(x)))."""
    return dense(W, name + ".fc2", gelu(dense(W, name + ".fc1", x)))


def fourier_coords(coords: torch.Tensor, nfb: int) -> torch.Tensor:
    """OC6 for arbitrary coordinates ``[..., n]``: phases 2^b·c_i ordered (b outer, i inner), range
    reduced r = fmod(2^b·c, 2) (exact in binary floating point), then [sin(πr) | sin(πr + π/2)]."""
    scaled = torch.cat([coords * float(2 ** b) for b in range(nfb)], dim=-1)
    r = torch.fmod(scaled, 2.0)
    return torch.cat([torch.sin(math.pi * r), torch.sin(math.pi * r + math.pi / 2)], dim=-1)


def grid_phase(i: int, n: int, b: int) -> Fraction:
    """Exact r = (2^b·c_i) mod 2 for c_i = (2i − (n−1))/(n−1) (n = 1: c = −1), in [0, 2)."""
    if n == 1:
        return Fraction((-(2 ** b)) % 2)
    return Fraction((2 ** b * (2 * i - (n - 1))) % (2 * (n - 1)), n - 1)


def fourier_grid(Hq: int, Wq: int, nfb: int, dtype=torch.float64) -> torch.Tensor:
    """Depth query features ``[Hq·Wq, 4·nfb]`` (row-major (y, x); y = coordinate 0), exact phases."""
    rows = []
    for i in range(Hq):
        for j in range(Wq):
            r = []
            for b in range(nfb):
                r += [grid_phase(i, Hq, b), grid_phase(j, Wq, b)]
            rows.append([float(v) for v in r])
    r = torch.tensor(rows, dtype=torch.float64).reshape(Hq * Wq, 2 * nfb).to(dtype)  # exact r, rounded once
    return torch.cat([torch.sin(math.pi * r), torch.sin(math.pi * r + math.pi / 2)], dim=-1)


def grid_coords(n: int) -> list[float]:
    """linspace(−1, 1, n) as the exact rationals of OC6 (n = 1 → [−1])."""
    return [-1.0] if n == 1 else [(2 * i - (n - 1)) / (n - 1) for i in range(n)]


def cross_attention_block(W, pre, x, kv, heads):
    """MooG ImprovedTransformerBlock, cross-attention only (§7.3, OC2–OC4). x [Q, w], kv [N, C]."""
    n = layer_norm(x, W[pre + ".norm_q.weight"])
    a = pre + ".cross_att."
    q = n @ W[a + "dense_query.weight"].T
    k = kv @ W[a + "dense_key.weight"].T
    v = kv @ W[a + "dense_value.weight"].T
    qkv = q.shape[-1]
    d = qkv // heads
    q = rms_norm(q.reshape(-1, heads, d), W[a + "norm_query.weight"])
    k = rms_norm(k.reshape(-1, heads, d), W[a + "norm_key.weight"])
    v = v.reshape(-1, heads, d)
    att = torch.softmax(torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(d), dim=-1)
    o = torch.einsum("hqk,khd->qhd", att, v).reshape(-1, qkv)
    x = x + dense(W, a + "dense_out", o)
    h = layer_norm(x, W[pre + ".norm_attn.weight"])
    return x + dense(W, pre + ".mlp_out", gelu(dense(W, pre + ".mlp_in", h)))


class _Scope(dict):
    """Read-only view of a weight dict under a prefix: S['key.weight'] = W[prefix + '.key.weight']."""

    def __init__(self, W, prefix):
        super().__init__()
        self.W, self.prefix = W, prefix

    def __getitem__(self, k):
        return self.W[f"{self.prefix}.{k}"]


# ----------------------------------------------------------------------------------------
# Heads (one clip)
# ----------------------------------------------------------------------------------------

def attention_readout(W, cfg, F):
    """§7.1. F [T, N, C] → logits [K]."""
    S = _Scope(W, cfg["prefix"])
    T, N, C = F.shape
    if C != cfg["C"] or T != cfg["T"]:
        raise ValueError(f"features: expected [T={cfg['T']}, N, C={cfg['C']}], got {list(F.shape)}")
    P, H = cfg["P"], cfg["heads"]
    d = P // H
    f = layer_norm(F, S["feat_norm.weight"], S["feat_norm.bias"])
    pe = S["temporal_posenc"].flip(0) if "posenc_reversed" in _VARIANT else S["temporal_posenc"]
    f = (f + pe[:, None, :]).reshape(T * N, C)  # time-major keys t·N + n (OC4)
    k = dense(S, "key", f).reshape(T * N, H, d)
    v = dense(S, "value", f).reshape(T * N, H, d)
    q = S["query"].reshape(H, d)
    a = torch.softmax(torch.einsum("hd,jhd->hj", q, k) / math.sqrt(d), dim=-1)
    o = torch.einsum("hj,jhd->hd", a, v).reshape(P)
    qflat = S["query"][0].T.reshape(P) if "query_dmajor" in _VARIANT else S["query"].reshape(P)
    tok = qflat + dense(S, "out", o)  # flatten head-major (OC5)
    tok = tok + mlp2(S, "mlp", layer_norm(tok, S["mlp_norm.weight"], S["mlp_norm.bias"]))
    return dense(S, "head", tok)


def camera_input(F):
    """OC8: concat(F[0], F[T−1]) on channels → [1, N, 2C]."""
    return torch.cat([F[0], F[-1]], dim=-1)[None]


def depth_readout(W, cfg, F, grid=(128, 128)):
    """§7.3 / OC7. F [T, N, C] → depth [T, Hq·Wq] (linear metres)."""
    S = _Scope(W, cfg["prefix"])
    T, N, C = F.shape
    if C != cfg["C"]:
        raise ValueError(f"features: expected C = {cfg['C']}, got {C}")
    Hq, Wq = grid
    four = fourier_grid(Hq, Wq, cfg["nfb"], F.dtype)
    q0 = torch.cat([torch.zeros(Hq * Wq, C, dtype=F.dtype), four], dim=-1)
    out = []
    for f in range(T):
        x = q0
        for i in range(cfg["layers"]):
            x = cross_attention_block(S, f"transformer.layer_{i}", x, F[f], cfg["heads"])
        x = layer_norm(x, S["transformer.norm_encoder.weight"])
        out.append(dense(S, "recon", x)[:, 0])
    return torch.stack(out)


def tracks_readout(W, cfg, F, queries, query_frames):
    """§7.4 / OC9. F [T, N, C], queries [M, n_coords] in [−1, 1], query_frames [M] (integers) →
    (values [T, M, n_values], logits [T, M, n_logits])."""
    S = _Scope(W, cfg["prefix"])
    T, N, C = F.shape
    if C != cfg["C"]:
        raise ValueError(f"features: expected C = {cfg['C']}, got {C}")
    if queries.ndim != 2 or queries.shape[1] != cfg["n_coords"]:
        raise ValueError(f"queries: expected [M, {cfg['n_coords']}], got {list(queries.shape)}")
    qf64 = query_frames.reshape(-1).to(torch.float64)
    qf = qf64.round().to(torch.int64)
    if qf.numel() != queries.shape[0] or (qf64 != qf).any() or (qf < 0).any() or (qf >= T).any():
        raise ValueError(f"query_frames: expected [M = {queries.shape[0]}] integers in [0, {T})")
    s_init = mlp2(S, "init", fourier_coords(queries, cfg["nfb"]))
    state = s_init
    values, logits = [], []
    for s in range(T):
        state = torch.where((qf == s)[:, None], s_init, state)
        y = dense(S, "backbone.in_proj", state)
        for i in range(cfg["layers"]):
            y = cross_attention_block(S, f"backbone.layer_{i}", y, F[s], cfg["heads"])
        y = dense(S, "backbone.out_proj", layer_norm(y, S["backbone.norm_encoder.weight"]))
        corrected = state + y
        state = layer_norm(corrected + mlp2(S, "predictor", corrected), S["state_norm.weight"],
                           eps=STATE_NORM_EPS)
        src = state if "values_from_state" in _VARIANT else corrected  # (sensitivity flips only)
        if "state_stop_gradient" in _VARIANT:
            state = state.detach()
        val = mlp2(S, "out_values", src)
        values.append(torch.sigmoid(val) if cfg["kind"] == "points" else val)
        logits.append(mlp2(S, "out_logits", src))
    return torch.stack(values), torch.stack(logits)


_VARIANT: set[str] = set()  # convention flips used only by make_readout_fixtures.py --sensitivity


def forward_clip(W, cfg, F, queries=None, query_frames=None, grid=(128, 128)):
    """One clip → {output name: tensor} as `walt readout forward` writes them."""
    kind = cfg["kind"]
    if kind == "attention":
        return {"logits": attention_readout(W, cfg, F)}
    if kind == "camera":
        if 2 * F.shape[-1] != cfg["C"]:
            raise ValueError(f"features: camera head with C = {cfg['C']} needs width {cfg['C'] // 2}")
        return {"pose": attention_readout(W, cfg, camera_input(F))}
    if kind == "depth":
        return {"depth": depth_readout(W, cfg, F, grid)}
    if queries is None:
        raise ValueError(f"{kind} head needs queries [M, {cfg['n_coords']}]")
    if query_frames is None:
        query_frames = torch.zeros(queries.shape[0])
    v, lg = tracks_readout(W, cfg, F, queries, query_frames)
    return {"values": v, "logits": lg}


# ----------------------------------------------------------------------------------------
# Losses (OC10–OC16)
# ----------------------------------------------------------------------------------------

def masked_mean(value, mask):
    """OC10: sum(mask·value) / max(sum(mask), 1e-8), mask broadcast to the value's shape."""
    mask = torch.broadcast_to(mask.to(value.dtype), value.shape)
    return (mask * value).sum() / torch.clamp(mask.sum(), min=1e-8)


def sigmoid_bce(x, z):
    """OC16 (optax): max(x, 0) − x·z + log1p(exp(−|x|))."""
    return torch.clamp(x, min=0) - x * z + torch.log1p(torch.exp(-torch.abs(x)))


def gt_sample_index(n_out: int, n_in: int) -> list[int]:
    """OC13: src = floor((2·i·(n_in−1) + (n_out−1)) / (2·(n_out−1))); 0 when n_out = 1."""
    if n_out == 1:
        return [0]
    return [(2 * i * (n_in - 1) + (n_out - 1)) // (2 * (n_out - 1)) for i in range(n_out)]


def sample_depth_gt(depth, Hq, Wq):
    """depth [..., H, W] → [..., Hq, Wq] by OC13's integer nearest rule."""
    H, W = depth.shape[-2:]
    r = gt_sample_index(Hq, H)
    c = gt_sample_index(Wq, W)
    return depth[..., r, :][..., c]


def depth_valid(d):
    return (d > 0.001) & (d < 10.0)


def points_loss_terms(values, logits, tracks, visible):
    """OC14. values/tracks [..., 2] in [0, 1], logits [..., 2], visible [...] → (total, parts)."""
    vis = (visible != 0).to(values.dtype)
    dsq = ((values - tracks) ** 2).sum(-1)
    d2 = HUBER_DELTA * HUBER_DELTA
    dist = torch.sqrt(torch.clamp(dsq, min=d2))  # only used where dsq >= delta²
    huber = torch.where(dsq < d2, 0.5 * dsq, HUBER_DELTA * (dist - HUBER_DELTA / 2))
    position = masked_mean(huber, vis)
    visibility = masked_mean(sigmoid_bce(logits[..., 0], vis), torch.ones_like(vis))
    cert_target = (dsq.detach() <= CERTAINTY_RADIUS ** 2).to(values.dtype)
    certainty = masked_mean(sigmoid_bce(logits[..., 1], cert_target), vis)
    total = 100.0 * position + 0.1 * visibility + 0.1 * certainty
    return total, {"position": position, "visibility": visibility, "certainty": certainty}


def batch_forward(W, cfg, batch, grid):
    """Every clip of a batch → {output: [B, ...]}."""
    feats = batch["features"]
    outs = []
    for b in range(feats.shape[0]):
        if cfg["kind"] in ("points", "boxes"):
            outs.append(forward_clip(W, cfg, feats[b], batch["queries"][b], batch["query_frames"][b], grid))
        else:
            outs.append(forward_clip(W, cfg, feats[b], grid=grid))
    return {k: torch.stack([o[k] for o in outs]) for k in outs[0]}


def batch_loss(W, cfg, batch, grid=(128, 128)):
    """The pooled batch loss (OC10) of one batch dict (float tensors; integer-valued ones as floats)."""
    out = batch_forward(W, cfg, batch, grid)
    kind = cfg["kind"]
    if kind == "attention":
        logits = out["logits"]
        labels = batch["labels"].reshape(-1).round().to(torch.int64)
        if labels.numel() != logits.shape[0] or (labels < 0).any() or (labels >= cfg["K"]).any():
            raise ValueError(f"labels: expected [B] integers in [0, {cfg['K']})")
        ce = torch.logsumexp(logits, -1) - logits.gather(1, labels[:, None])[:, 0]
        return masked_mean(ce, torch.ones_like(ce))
    if kind == "camera":
        err = (out["pose"] - batch["pose"]) ** 2
        return masked_mean(err, torch.ones_like(err))
    if kind == "depth":
        Hq, Wq = grid
        gt = sample_depth_gt(batch["depth"], Hq, Wq).reshape(out["depth"].shape)
        err = (out["depth"] - gt) ** 2
        return masked_mean(err, depth_valid(gt))
    if kind == "points":
        return points_loss_terms(out["values"], out["logits"], batch["tracks"], batch["visible"])[0]
    err = (out["values"] - batch["boxes"]) ** 2
    return masked_mean(err, (batch["valid"] != 0)[..., None])


# ----------------------------------------------------------------------------------------
# Optimiser (OC22) and schedule (OC23)
# ----------------------------------------------------------------------------------------

def lr_at(s: int, peak: float, warmup: int, total: int, end: float = END_LR) -> float:
    """optax.warmup_cosine_decay_schedule(0, peak, warmup, total, end) at s updates applied."""
    if s < warmup:
        return peak * s / warmup
    if total <= warmup:
        raise ValueError("--total-steps must exceed --warmup (the cosine needs positive decay steps)")
    frac = min(s - warmup, total - warmup) / (total - warmup)
    return end + (peak - end) * 0.5 * (1.0 + math.cos(math.pi * frac))


def adamw_update(p, g, m, v, step: int, lr: float, wd: float):
    """One optax.adamw update (in place on m, v; returns the new p). step = updates already applied."""
    m.mul_(ADAM_B1).add_((1 - ADAM_B1) * g)
    v.mul_(ADAM_B2).add_((1 - ADAM_B2) * g * g)
    t = step + 1
    mhat = m / (1 - ADAM_B1 ** t)
    vhat = v / (1 - ADAM_B2 ** t)
    u = mhat / (torch.sqrt(vhat) + ADAM_EPS) + wd * p
    return p - lr * u


def train(W0, cfg, batch, lr, weight_decay=1e-4, warmup=0, total_steps=None, steps=1, grid=(128, 128),
          dtype=torch.float64):
    """S AdamW steps on one fixed batch. Returns (weights, losses, lrs, first gradients)."""
    total_steps = steps if total_steps is None else total_steps
    names = list(W0)
    params = {k: W0[k].to(dtype).clone() for k in names}
    m = {k: torch.zeros_like(params[k]) for k in names}
    v = {k: torch.zeros_like(params[k]) for k in names}
    b = {k: t.to(dtype) for k, t in batch.items()}
    losses, lrs, first = [], [], None
    for s in range(steps):
        leaves = {k: params[k].clone().requires_grad_(True) for k in names}
        loss = batch_loss(leaves, cfg, b, grid)
        grads = torch.autograd.grad(loss, [leaves[k] for k in names], allow_unused=True)
        grads = {k: (torch.zeros_like(params[k]) if gr is None else gr.detach()) for k, gr in zip(names, grads)}
        if cfg["kind"] in ("attention", "camera"):
            # The key bias only shifts every logit of a head by q_h·b_k^h: softmax is invariant to
            # it, so its gradient is exactly 0 (autograd returns round-off; set the exact value so
            # that Adam's g/(|g|+eps) does not amplify noise).
            kb = cfg["prefix"] + ".key.bias"
            scale = max(float(g.abs().max()) for g in grads.values())
            assert float(grads[kb].abs().max()) <= 1e-4 * scale + 1e-30, "key.bias gradient not ~0"
            grads[kb] = torch.zeros_like(grads[kb])
        if first is None:
            first = grads
        rate = lr_at(s, lr, warmup, total_steps)
        with torch.no_grad():
            for k in names:
                params[k] = adamw_update(params[k], grads[k], m[k], v[k], s, rate, weight_decay)
        losses.append(float(loss.detach()))
        lrs.append(rate)
    return params, losses, lrs, first


# ----------------------------------------------------------------------------------------
# Metrics (OC17–OC21, §8); numpy float64
# ----------------------------------------------------------------------------------------

def _ints(a, name):
    a = np.asarray(a, dtype=np.float64)
    r = np.round(a)
    if not np.all(r == a):
        raise ValueError(f"{name}: must be integer-valued")
    return r.astype(np.int64)


def metric_top1(logits, labels):
    """OC17: argmax (first index on ties) == label; mean over clips."""
    logits = np.asarray(logits, np.float64)
    labels = _ints(labels, "labels").reshape(-1)
    return {"top1": float(np.mean(np.argmax(logits, axis=-1) == labels))}


def absrel_per_clip(pred, gt):
    """OC13/OC18: pred [B, T, Hq, Wq], gt [B, T, H, W] → per-clip AbsRel (NaN where nothing valid)."""
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    Hq, Wq = pred.shape[-2:]
    g = gt[..., gt_sample_index(Hq, gt.shape[-2]), :][..., gt_sample_index(Wq, gt.shape[-1])]
    valid = (g > 0.001) & (g < 10.0)
    out = []
    for b in range(pred.shape[0]):
        n = valid[b].sum()
        rel = np.abs(pred[b] - g[b])[valid[b]] / g[b][valid[b]]
        out.append(float(rel.sum() / n) if n else float("nan"))
    return out


def metric_absrel(pred, gt):
    return {"absrel": float(np.mean(absrel_per_clip(pred, gt)))}


def procrustes(R):
    """R̂ = U·diag(1, 1, det(U Vᵀ))·Vᵀ with M = U Σ Vᵀ."""
    U, _, Vt = np.linalg.svd(R)
    D = np.diag([1.0, 1.0, np.linalg.det(U @ Vt)])
    return U @ D @ Vt


def pose_epe_per_clip(pred, gt):
    """OC19: mean over the 8 cube corners of ‖[R|t]X − [R̂|t̂]X‖ per clip."""
    pred = np.asarray(pred, np.float64).reshape(-1, 12)
    gt = np.asarray(gt, np.float64).reshape(-1, 12)
    X = np.array(CUBE_CORNERS).T  # [3, 8]
    out = []
    for p, g in zip(pred, gt):
        Rh, th = procrustes(p[:9].reshape(3, 3)), p[9:]
        Rg, tg = g[:9].reshape(3, 3), g[9:]
        e = (Rg @ X + tg[:, None]) - (Rh @ X + th[:, None])
        out.append(float(np.mean(np.linalg.norm(e, axis=0))))
    return out


def metric_pose(pred, gt):
    return {"epe": float(np.mean(pose_epe_per_clip(pred, gt)))}


def _sigmoid(x):
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def tapvid_per_video(values, logits, tracks, visible, query_frames):
    """OC20 with tapnet's compute_tapvid_metrics (query_mode 'first'), in our layouts:
    values/tracks [B, T, M, 2] in [0, 1] (x, y), logits [B, T, M, 2], visible [B, T, M],
    query_frames [B, M]. Returns {metric: [B] array} (NaN where tapnet divides 0 by 0)."""
    values = np.asarray(values, np.float64)
    logits = np.asarray(logits, np.float64)
    tracks = np.asarray(tracks, np.float64)
    B, T, M, _ = values.shape
    # tapnet layout: [b, n, t]
    pred_tracks = np.transpose(values * 256.0, (0, 2, 1, 3))
    gt_tracks = np.transpose(tracks * 256.0, (0, 2, 1, 3))
    pred_visible = np.transpose(_sigmoid(logits[..., 0]) * _sigmoid(logits[..., 1]) > 0.5, (0, 2, 1))
    gt_visible = np.transpose(np.asarray(visible) != 0, (0, 2, 1))
    qf = _ints(query_frames, "query_frames").reshape(B, M)
    frames = np.arange(T)
    evaluation = frames[None, None, :] > qf[:, :, None]  # frames strictly after the query frame

    def ratio(num, den):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(num, np.float64) / np.asarray(den, np.float64)

    out = {}
    pred_occ, gt_occ = ~pred_visible, ~gt_visible
    out["occlusion_accuracy"] = ratio(np.sum((pred_occ == gt_occ) & evaluation, axis=(1, 2)),
                                      np.sum(evaluation, axis=(1, 2)))
    jac, frac = [], []
    for th in TAPVID_THRESHOLDS:
        within = np.sum((pred_tracks - gt_tracks) ** 2, axis=-1) < th * th
        correct = within & gt_visible
        count_correct = np.sum(correct & evaluation, axis=(1, 2))
        count_visible = np.sum(gt_visible & evaluation, axis=(1, 2))
        fr = ratio(count_correct, count_visible)
        tp = np.sum(correct & pred_visible & evaluation, axis=(1, 2))
        fp = np.sum((((~gt_visible) & pred_visible) | ((~within) & pred_visible)) & evaluation, axis=(1, 2))
        jc = ratio(tp, count_visible + fp)
        out[f"pts_within_{th}"] = fr
        out[f"jaccard_{th}"] = jc
        frac.append(fr)
        jac.append(jc)
    out["average_jaccard"] = np.mean(np.stack(jac, axis=1), axis=1)
    out["average_pts_within_thresh"] = np.mean(np.stack(frac, axis=1), axis=1)
    return out


TAPVID_KEYS = ("average_jaccard", "average_pts_within_thresh", "occlusion_accuracy")


def metric_tapvid(values, logits, tracks, visible, query_frames):
    """Dataset means: plain mean over videos, NaN propagates (tapnet sums per-video scalars)."""
    per = tapvid_per_video(values, logits, tracks, visible, query_frames)
    return {k: float(np.mean(per[k])) for k in TAPVID_KEYS}


def box_iou(a, b):
    """[..., 4] (ymin, xmin, ymax, xmax) → IoU [...]; areas max(0,.)·max(0,.), union 0 → 0 (OC21)."""
    area = lambda x: np.maximum(0, x[..., 2] - x[..., 0]) * np.maximum(0, x[..., 3] - x[..., 1])  # noqa: E731
    ih = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]))
    iw = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]))
    inter = ih * iw
    union = area(a) + area(b) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def boxes_iou_per_clip(values, boxes, valid):
    values = np.asarray(values, np.float64)
    boxes = np.asarray(boxes, np.float64)
    iou = box_iou(values, boxes)  # [B, T, M]
    mask = np.asarray(valid) != 0
    mask[:, 0, :] = False  # the given first frame is not evaluated
    out = []
    for b in range(iou.shape[0]):
        n = mask[b].sum()
        out.append(float(iou[b][mask[b]].sum() / n) if n else float("nan"))
    return out


def metric_boxes(values, boxes, valid):
    return {"iou": float(np.mean(boxes_iou_per_clip(values, boxes, valid)))}


def compute_metrics(task, pred, gt):
    """`walt metrics` on dicts of numpy arrays (the two safetensors files)."""
    def need(d, k, which):
        if k not in d:
            raise ValueError(f"--{which}: missing tensor '{k}'")
        return d[k]
    if task == "top1":
        return metric_top1(need(pred, "logits", "pred"), need(gt, "labels", "gt"))
    if task == "absrel":
        return metric_absrel(need(pred, "depth", "pred"), need(gt, "depth", "gt"))
    if task == "pose":
        return metric_pose(need(pred, "pose", "pred"), need(gt, "pose", "gt"))
    if task == "tapvid":
        return metric_tapvid(need(pred, "values", "pred"), need(pred, "logits", "pred"),
                             need(gt, "tracks", "gt"), need(gt, "visible", "gt"), need(gt, "query_frames", "gt"))
    if task == "boxes":
        return metric_boxes(need(pred, "values", "pred"), need(gt, "boxes", "gt"), need(gt, "valid", "gt"))
    raise ValueError(f"--task must be one of top1, absrel, pose, tapvid, boxes; got {task!r}")


def json_clean(x):
    """NaN / ±inf → None (JSON null), recursively."""
    if isinstance(x, dict):
        return {k: json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.ndarray):
        return json_clean(x.tolist())
    return x


# ----------------------------------------------------------------------------------------
# safetensors with mixed dtypes
# ----------------------------------------------------------------------------------------

_ST = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I32": "<i4", "I64": "<i8", "U8": "u1", "BOOL": "?"}


def read_st(path) -> dict[str, np.ndarray]:
    """{name: numpy array} in the file's dtype (F16/F32/F64/I32/I64/U8/BOOL; BF16 widened to f32)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b: base + e]
        dt = info["dtype"]
        if dt == "BF16":
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif dt in _ST:
            arr = np.frombuffer(raw, _ST[dt])
        else:
            raise ValueError(f"{path}: {name}: dtype {dt} not supported")
        out[name] = arr.reshape(info["shape"]).copy()
    return out


def write_st(path, tensors: dict, metadata: dict | None = None) -> None:
    """Writes {name: array | (array, dtype)} in insertion order; default dtype F32. Atomic rename."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        dt = "F32"
        if isinstance(t, tuple):
            t, dt = t
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().numpy()
        a = np.asarray(t)
        if dt in ("I32", "I64"):
            if not np.all(np.round(a) == a):
                raise ValueError(f"{name}: not integer-valued")
            a = np.round(a).astype(_ST[dt])
        else:
            a = a.astype(np.float64).astype(_ST[dt])
        raw = np.ascontiguousarray(a).tobytes(order="C")
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)
    tmp.replace(path)


def load_weights(path, cfg, dtype=torch.float64) -> dict[str, torch.Tensor]:
    st = read_st(path)
    W = {}
    for name, shape in weight_shapes(cfg):
        if name not in st:
            raise ValueError(f"--weights {path}: missing '{name}' {list(shape)}")
        if tuple(st[name].shape) != tuple(shape):
            raise ValueError(f"--weights {path}: '{name}' has shape {list(st[name].shape)}, expected {list(shape)}")
        W[name] = torch.from_numpy(st[name].astype(np.float64)).to(dtype)
    return W


def batch_from_arrays(arrays: dict, dtype=torch.float64) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.asarray(v).astype(np.float64)).to(dtype) for k, v in arrays.items()}


def parse_grid(s):
    if s is None:
        return (128, 128)
    h, w = s.lower().split("x")
    return (int(h), int(w))


# ----------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------

def _dtype(s):
    return {"float64": torch.float64, "float32": torch.float32}[s]


def cmd_info(args):
    cfg = load_head(args.head)
    shapes = weight_shapes(cfg)
    if args.json:
        print(json.dumps({"params": param_count(cfg), "weights": [[n, list(s)] for n, s in shapes]}))
    else:
        print(f"{cfg['prefix']} ({cfg['kind']}): {param_count(cfg):,} parameters in {len(shapes)} tensors")
        for n, s in shapes:
            print(f"  {n} {list(s)}")


def cmd_init(args):
    cfg = load_head(args.head)
    write_st(args.out, init_params(cfg, args.scheme, args.seed))


def cmd_forward(args):
    cfg = load_head(args.head)
    dt = _dtype(args.dtype)
    W = load_weights(args.weights, cfg, dt)
    F = torch.from_numpy(read_npy(args.features).astype(np.float64)).to(dt)
    q = torch.from_numpy(read_npy(args.queries).astype(np.float64)).to(dt) if args.queries else None
    qf = torch.from_numpy(read_npy(args.query_frames).astype(np.float64)) if args.query_frames else None
    with torch.no_grad():
        out = forward_clip(W, cfg, F, q, qf, parse_grid(args.grid))
    write_st(args.out, out)


def cmd_step(args):
    cfg = load_head(args.head)
    dt = _dtype(args.dtype)
    W = load_weights(args.weights, cfg, torch.float64)
    batch = batch_from_arrays(read_st(args.batch), dt)
    params, losses, lrs, grads = train(W, cfg, batch, args.lr, args.weight_decay, args.warmup,
                                       args.total_steps, args.steps, parse_grid(args.grid), dt)
    for s, (loss, rate) in enumerate(zip(losses, lrs)):
        print(json.dumps({"step": s + 1, "loss": loss, "lr": rate}))
    write_st(args.out, params)
    if args.grads_out:
        write_st(args.grads_out, grads)


def cmd_metrics(args):
    pred, gt = read_st(args.pred), read_st(args.gt)
    res = json_clean(compute_metrics(args.task, pred, gt))
    print(json.dumps(res) if args.json else "\n".join(f"{k}: {v}" for k, v in res.items()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("info")
    p.add_argument("--head", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_info)
    p = sub.add_parser("init")
    p.add_argument("--head", required=True)
    p.add_argument("--scheme", default="test", choices=["flax", "test"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_init)
    p = sub.add_parser("forward")
    p.add_argument("--head", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--features", required=True)
    p.add_argument("--queries")
    p.add_argument("--query-frames")
    p.add_argument("--grid")
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.set_defaults(fn=cmd_forward)
    p = sub.add_parser("step")
    p.add_argument("--head", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--batch", required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--total-steps", type=int)
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--grid")
    p.add_argument("--out", required=True)
    p.add_argument("--grads-out")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.set_defaults(fn=cmd_step)
    p = sub.add_parser("metrics")
    p.add_argument("--task", required=True, choices=["top1", "absrel", "pose", "tapvid", "boxes"])
    p.add_argument("--pred", required=True)
    p.add_argument("--gt", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_metrics)
    p = sub.add_parser("selftest")
    p.set_defaults(fn=lambda a: selftest())
    args = ap.parse_args(argv)
    args.fn(args)


# ----------------------------------------------------------------------------------------
# Self-test
# ----------------------------------------------------------------------------------------

def tiny_configs():
    return {
        "attention": {"kind": "attention", "prefix": "readout.t_att", "C": 4, "P": 4, "heads": 2, "K": 3, "T": 2},
        "camera": {"kind": "camera", "prefix": "readout.t_cam", "C": 6, "P": 2, "heads": 1, "K": 12, "T": 1},
        "depth": {"kind": "depth", "prefix": "readout.t_depth", "C": 3, "nfb": 2, "qkv": 4, "heads": 2, "mlp": 3,
                  "layers": 2},
        "points": {"kind": "points", "prefix": "readout.t_pts", "C": 3, "n_coords": 2, "n_values": 2, "n_logits": 2,
                   "nfb": 2, "width": 4, "qkv": 4, "heads": 2, "mlp": 3, "layers": 1},
        "boxes": {"kind": "boxes", "prefix": "readout.t_box", "C": 3, "n_coords": 4, "n_values": 4, "n_logits": 2,
                  "nfb": 1, "width": 3, "qkv": 2, "heads": 1, "mlp": 2, "layers": 2},
    }


def tiny_batch(cfg, rng, B=2, T=3, N=3, M=2, grid=(2, 3), gt=(3, 4)):
    kind = cfg["kind"]
    C = cfg["C"] // 2 if kind == "camera" else cfg["C"]
    if kind == "attention":
        T = cfg["T"]
    b = {"features": rng.standard_normal((B, T, N, C))}
    if kind == "attention":
        b["labels"] = rng.integers(0, cfg["K"], B).astype(np.float64)
    elif kind == "camera":
        b["pose"] = rng.standard_normal((B, 12))
    elif kind == "depth":
        d = rng.uniform(0.5, 5, (B, T) + gt)
        d[0, 0, 0, 0] = 0.0
        b["depth"] = d
    else:
        nc = cfg["n_coords"]
        b["queries"] = np.round(rng.uniform(-1, 1, (B, M, nc)) * 64) / 64
        b["query_frames"] = rng.integers(0, T, (B, M)).astype(np.float64)
        if kind == "points":
            b["tracks"] = rng.uniform(0, 1, (B, T, M, 2))
            b["visible"] = (rng.uniform(size=(B, T, M)) < 0.7).astype(np.float64)
        else:
            b["boxes"] = rng.uniform(0, 1, (B, T, M, 4))
            b["valid"] = (rng.uniform(size=(B, T, M)) < 0.7).astype(np.float64)
    return b


def selftest():
    import tempfile
    rng = np.random.default_rng(7)
    # 1. counts
    import readout_counts
    readout_counts.check(verbose=False)
    for name, cfg in BUILTIN.items():
        if cfg["kind"] in ("attention", "camera"):
            assert param_count(cfg) == attention_param_formula(cfg["C"], cfg["P"], cfg["K"], cfg["T"]), name
    print("counts ok")

    # 2. schedule (OC23)
    sch = lambda s: lr_at(s, 3e-4, 1000, 40000)  # noqa: E731
    for s, want in [(0, 0.0), (1, 3e-7), (500, 1.5e-4), (999, 3e-4 * 999 / 1000), (1000, 3e-4),
                    (20500, 1e-7 + (3e-4 - 1e-7) * 0.5), (40000, 1e-7), (50000, 1e-7)]:
        assert abs(sch(s) - want) <= 1e-18 + 1e-12 * want, (s, sch(s), want)
    assert lr_at(0, 1e-2, 0, 10) == 1e-2
    assert abs(lr_at(1, 1e-2, 0, 10) - (1e-7 + (1e-2 - 1e-7) * 0.5 * (1 + math.cos(math.pi / 10)))) < 1e-18
    print("schedule ok")

    # 3. AdamW (OC22) equals torch.optim.AdamW (same maths: decoupled decay, eps outside sqrt)
    p0 = torch.randn(7, 5, dtype=torch.float64)
    gs = [torch.randn(7, 5, dtype=torch.float64) for _ in range(4)]
    rates = [1e-2, 5e-3, 2e-3, 1e-3]
    mine, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    for s, (g, r) in enumerate(zip(gs, rates)):
        mine = adamw_update(mine, g, m, v, s, r, 0.5)
    ref = p0.clone().requires_grad_(True)
    opt = torch.optim.AdamW([ref], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.5)
    for g, r in zip(gs, rates):
        for grp in opt.param_groups:
            grp["lr"] = r
        ref.grad = g.clone()
        opt.step()
    assert torch.allclose(mine, ref.detach(), rtol=1e-12, atol=1e-14)
    print("adamw ok (matches torch.optim.AdamW)")

    # 4. Fourier features: exact grid phases == naive float64; range reduction == naive
    for n in (1, 2, 5, 7, 128):
        for b in range(16):
            for i in range(n):
                c = grid_coords(n)[i]
                naive = math.sin(math.pi * (2 ** b) * c)
                assert abs(math.sin(math.pi * float(grid_phase(i, n, b))) - naive) < 1e-9, (n, b, i)
    g = fourier_grid(5, 7, 16)
    coords = torch.tensor([[y, x] for y in grid_coords(5) for x in grid_coords(7)], dtype=torch.float64)
    assert (g - fourier_coords(coords, 16)).abs().max() < 1e-9
    assert fourier_grid(3, 2, 1).shape == (6, 4)
    print("fourier ok")

    # 5. OC13 sampling
    assert gt_sample_index(5, 8) == [0, 2, 4, 5, 7]  # 1.75→2, 3.5→4 (half up), 5.25→5
    assert gt_sample_index(7, 10) == [0, 2, 3, 5, 6, 8, 9]
    assert gt_sample_index(1, 9) == [0] and gt_sample_index(4, 4) == [0, 1, 2, 3]
    print("depth sampling ok")

    # 6. gradcheck of every head's batch loss w.r.t. every weight (float64)
    for kind, cfg in tiny_configs().items():
        validate_config(cfg)
        W0 = init_params(cfg, "test", seed=3)
        names = list(W0)
        batch = batch_from_arrays(tiny_batch(cfg, rng))
        leaves = [W0[k].to(torch.float64).clone().requires_grad_(True) for k in names]

        def f(*ts, cfg=cfg, batch=batch, names=names):
            return batch_loss(dict(zip(names, ts)), cfg, batch, grid=(2, 3))

        assert torch.autograd.gradcheck(f, tuple(leaves), eps=1e-6, atol=1e-6, rtol=1e-4), kind
        print(f"gradcheck {kind} ok ({sum(t.numel() for t in leaves)} parameters)")

    # 7. metrics sanity
    assert metric_top1(np.array([[1.0, 3.0, 3.0], [0.0, 0.0, 0.0]]), np.array([1, 1]))["top1"] == 0.5
    R = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    if np.linalg.det(R) < 0:
        R[:, 0] *= -1
    assert np.allclose(procrustes(R), R) and np.isclose(np.linalg.det(procrustes(rng.standard_normal((3, 3)))), 1)
    pose = np.concatenate([R.reshape(9), [0.1, 0.2, 0.3]])[None]
    assert metric_pose(pose, pose)["epe"] < 1e-12
    a = np.array([0.0, 0.0, 1.0, 1.0])
    assert box_iou(a, a) == 1.0 and box_iou(a, np.array([0.5, 0.0, 1.5, 1.0])) == 0.5 / 1.5
    assert box_iou(np.array([0.2, 0.2, 0.2, 0.9]), np.array([0.2, 0.2, 0.2, 0.9])) == 0.0
    _tapvid_against_loop(rng)
    print("metrics ok")

    # 8. file round trip incl. integer dtypes
    tmp = Path(tempfile.mkdtemp())
    t = {"a": (np.arange(6).reshape(2, 3), "I64"), "b": (np.arange(3), "I32"), "c": np.ones((1, 2))}
    write_st(tmp / "x.safetensors", t)
    r = read_st(tmp / "x.safetensors")
    assert r["a"].dtype == np.int64 and r["b"].dtype == np.int32 and r["c"].dtype == np.float32
    assert np.array_equal(r["a"], np.arange(6).reshape(2, 3))
    print("files ok")
    print("SELFTEST PASS")


def _tapvid_against_loop(rng):
    """The vectorised TAP-Vid metric against a per-element loop over the TAP-Vid definitions."""
    B, T, M = 3, 5, 4
    values = np.round(rng.uniform(0, 1, (B, T, M, 2)) * 256) / 256
    tracks = np.clip(values + np.round(rng.normal(0, 6, (B, T, M, 2))) / 256, 0, 1)
    logits = rng.normal(0, 2, (B, T, M, 2))
    visible = rng.uniform(size=(B, T, M)) < 0.6
    qf = rng.integers(0, T, (B, M))
    per = tapvid_per_video(values, logits, tracks, visible, qf)
    for b in range(B):
        ev = [(t, m) for t in range(T) for m in range(M) if t > qf[b, m]]
        pv = {(t, m): 1 / (1 + math.exp(-logits[b, t, m, 0])) / (1 + math.exp(-logits[b, t, m, 1])) > 0.5
              for t, m in ev}
        occ = [pv[e] == bool(visible[b][e]) for e in ev]
        want_oa = sum(occ) / len(ev) if ev else float("nan")
        js, fs = [], []
        for th in TAPVID_THRESHOLDS:
            w = {e: ((values[b][e] - tracks[b][e]) * 256) @ ((values[b][e] - tracks[b][e]) * 256) < th * th
                 for e in ev}
            nvis = sum(bool(visible[b][e]) for e in ev)
            tp = sum(w[e] and visible[b][e] and pv[e] for e in ev)
            fp = sum(pv[e] and (not visible[b][e] or not w[e]) for e in ev)
            fs.append(sum(w[e] and visible[b][e] for e in ev) / nvis if nvis else float("nan"))
            js.append(tp / (nvis + fp) if nvis + fp else float("nan"))
        for k, want in [("occlusion_accuracy", want_oa), ("average_jaccard", float(np.mean(js))),
                        ("average_pts_within_thresh", float(np.mean(fs)))]:
            got = float(per[k][b])
            assert (math.isnan(got) and math.isnan(want)) or abs(got - want) < 1e-12, (k, b, got, want)


if __name__ == "__main__":
    main()
