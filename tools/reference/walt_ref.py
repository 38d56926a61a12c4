#!/usr/bin/python3
"""Independent PyTorch reference of WALT_SPEC.md (§3 encoder, §4 denoiser, §5 schedule).

Written from the spec text only. Float64 by default (``--dtype float32`` available).
Plain functions over a ``{canonical_name: tensor}`` dict; no nn.Module, no training.

Layouts (spec §1): pixels / latents / tokens are channels-last ``[T, H, W, C]``;
weights are in PyTorch convention (Linear ``[out, in]``, Conv3d ``[Co, Ci, kT, kH, kW]``).
Internally the encoder runs channels-first ``[1, C, T, H, W]`` for ``F.conv3d``.

CLI (run with Debian's /usr/bin/python3, torch 1.13):
  walt_ref.py forward --config test-tiny --weights W.safetensors --input x.npy [--latent]
                      --t 200 --noise eps.npy [--class K] --out out.safetensors [--dtype float32]
  walt_ref.py bench --config L --frames 17 --size 128 [--dtype float32|bfloat16]
                    [--device cpu|cuda] [--no-tf32] [--runs N] [--threads N] --json
  walt_ref.py init --config test-tiny --seed 0 --out W.safetensors   (random weights, F32)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import struct
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "src" / "model" / "configs"

GN_EPS = 1e-6  # GroupNorm eps (spec §1: flax default)
LN_EPS = 1e-6  # LayerNorm / qk-norm eps

# ----------------------------------------------------------------------------------------
# File formats: .npy and safetensors (own minimal implementations)
# ----------------------------------------------------------------------------------------

_NPY_DTYPES = {"<f4": np.float32, "<f8": np.float64, "<f2": np.float16, "<i4": np.int32, "<i8": np.int64}


def read_npy(path) -> np.ndarray:
    """Reads a version 1/2/3 .npy file holding a C-ordered little-endian numeric array."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{path}: not a .npy file")
    major = data[6]
    if major == 1:
        hlen = struct.unpack("<H", data[8:10])[0]
        start = 10
    else:
        hlen = struct.unpack("<I", data[8:12])[0]
        start = 12
    header = data[start:start + hlen].decode("latin1")
    # The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (..), }
    import ast
    meta = ast.literal_eval(header.strip())
    if meta["fortran_order"]:
        raise ValueError(f"{path}: Fortran order not supported")
    descr = meta["descr"]
    if descr not in _NPY_DTYPES:
        raise ValueError(f"{path}: dtype {descr} not supported")
    shape = tuple(meta["shape"])
    arr = np.frombuffer(data, dtype=_NPY_DTYPES[descr], offset=start + hlen,
                        count=int(np.prod(shape)) if shape else 1)
    return arr.reshape(shape).copy()


def write_npy(path, arr: np.ndarray) -> None:
    """Writes a version 1.0 .npy file (little-endian, C order)."""
    arr = np.asarray(arr)
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # (np.ascontiguousarray would turn a 0-d array into 1-d)
    descr = {np.dtype(np.float32): "<f4", np.dtype(np.float64): "<f8", np.dtype(np.float16): "<f2",
             np.dtype(np.int32): "<i4", np.dtype(np.int64): "<i8"}[arr.dtype]
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    shape = repr(tuple(int(d) for d in arr.shape))  # "(17, 64, 64, 3)", "(8,)", "()"
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    # pad so that the data starts at a multiple of 64 bytes; header ends with '\n'
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00")
        f.write(struct.pack("<H", len(header)))
        f.write(header.encode("latin1"))
        f.write(arr.tobytes(order="C"))


_ST_DTYPES = {"F32": (np.float32, 4), "F16": (np.float16, 2), "F64": (np.float64, 8)}


def read_safetensors(path) -> dict[str, np.ndarray]:
    """Returns {name: float32/float64 numpy array}. BF16 is widened to float32."""
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
        shape = tuple(info["shape"])
        dt = info["dtype"]
        if dt == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        elif dt in _ST_DTYPES:
            arr = np.frombuffer(raw, dtype=np.dtype(_ST_DTYPES[dt][0]).newbyteorder("<"))
        else:
            raise ValueError(f"{path}: {name}: dtype {dt} not supported")
        out[name] = arr.reshape(shape).copy()
    return out


def write_safetensors(path, tensors: dict, metadata: dict | None = None, dtype: str = "F32") -> None:
    """Writes tensors (numpy arrays or torch tensors) in insertion order as F32 (or F16)."""
    np_dt = {"F32": "<f4", "F16": "<f2"}[dtype]
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor):
            t = t.detach().to("cpu", torch.float64).numpy()
        a = np.ascontiguousarray(np.asarray(t, dtype=np.float64).astype(np_dt))
        raw = a.tobytes(order="C")
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)


# ----------------------------------------------------------------------------------------
# Configs (the same JSON files the TypeScript side reads)
# ----------------------------------------------------------------------------------------

def load_config(name_or_path: str) -> dict:
    p = Path(name_or_path)
    if not (p.suffix == ".json" and p.exists()):
        p = CONFIG_DIR / f"{name_or_path}.json"
    with open(p) as f:
        cfg = json.load(f)
    return cfg


def resize_config(cfg: dict, frames: int, size: int) -> dict:
    """A copy of cfg for a frames × size × size clip: latent (1 + (frames-1)/f_t, size/f_s, size/f_s)
    and windows clamped to the latent (the position tables are re-sized accordingly)."""
    import copy
    c = copy.deepcopy(cfg)
    enc = c["encoder"]
    f_s = 2 ** (len(enc["multipliers"]) - 1)
    f_t = 2 ** sum(1 for x in enc["temporalDownsample"] if x)
    if (frames - 1) % f_t or size % (f_s * c["denoiser"]["patch"]):
        raise ValueError(f"{frames}x{size}x{size} does not fit f_t={f_t}, f_s={f_s}")
    lat = [1 + (frames - 1) // f_t, size // f_s, size // f_s]
    c["pixels"] = [frames, size, size]
    d = c["denoiser"]
    d["latent"] = lat
    d["spatialWindow"] = [1] + [min(w, l // d["patch"]) for w, l in zip(d["spatialWindow"][1:], lat[1:])]
    d["spatiotemporalWindow"] = [min(d["spatiotemporalWindow"][0], lat[0])] + \
        [min(w, l // d["patch"]) for w, l in zip(d["spatiotemporalWindow"][1:], lat[1:])]
    return c


def encoder_levels(enc: dict):
    """Yields (level, c_in, c_out, downsample_stride or None) for each encoder level."""
    ch, mult = enc["channels"], enc["multipliers"]
    c_prev = ch
    for i, m in enumerate(mult):
        c_out = ch * m
        stride = None
        if i < len(mult) - 1:
            stride = (2 if enc["temporalDownsample"][i] else 1, 2, 2)
        yield i, c_prev, c_out, stride
        c_prev = c_out


def layer_is_spatial(cfg: dict, i: int) -> bool:
    """Spec §4.4: even layers S, odd layers ST; an image model uses S everywhere."""
    return bool(cfg["denoiser"].get("imageModel", False)) or i % 2 == 0


def layer_window(cfg: dict, i: int):
    d = cfg["denoiser"]
    return tuple(d["spatialWindow"] if layer_is_spatial(cfg, i) else d["spatiotemporalWindow"])


def weight_shapes(cfg: dict, parts=("encoder", "latent_norm", "denoiser")) -> dict[str, tuple]:
    """Canonical names and shapes (spec §3.5, §4.10), in a stable order."""
    shapes: dict[str, tuple] = {}
    if "encoder" in parts:
        enc = cfg["encoder"]
        ch = enc["channels"]
        shapes["encoder.conv_in.weight"] = (ch, 3, 3, 3, 3)

        def resblock(prefix, ci, co):
            shapes[f"{prefix}.norm1.weight"] = (ci,)
            shapes[f"{prefix}.norm1.bias"] = (ci,)
            shapes[f"{prefix}.conv1.weight"] = (co, ci, 3, 3, 3)
            shapes[f"{prefix}.norm2.weight"] = (co,)
            shapes[f"{prefix}.norm2.bias"] = (co,)
            shapes[f"{prefix}.conv2.weight"] = (co, co, 3, 3, 3)
            if ci != co:
                shapes[f"{prefix}.nin_shortcut.weight"] = (co, ci, 1, 1, 1)

        c_last = ch
        for i, ci, co, stride in encoder_levels(enc):
            for j in range(enc["resBlocks"]):
                resblock(f"encoder.down.{i}.block.{j}", ci if j == 0 else co, co)
            if stride is not None:
                shapes[f"encoder.down.{i}.downsample.conv.weight"] = (co, co, 3, 3, 3)
                shapes[f"encoder.down.{i}.downsample.conv.bias"] = (co,)
            c_last = co
        for j in range(enc["midBlocks"]):
            resblock(f"encoder.mid.block.{j}", c_last, c_last)
        shapes["encoder.norm_out.weight"] = (c_last,)
        shapes["encoder.norm_out.bias"] = (c_last,)
        shapes["encoder.conv_out.weight"] = (enc["latentChannels"], c_last, 1, 1, 1)
        shapes["encoder.conv_out.bias"] = (enc["latentChannels"],)
    if "latent_norm" in parts:
        c = cfg["encoder"]["latentChannels"]
        shapes["latent_norm.mean"] = (c,)
        shapes["latent_norm.std"] = (c,)
    if "denoiser" in parts:
        d = cfg["denoiser"]
        D, p, L = d["width"], d["patch"], d["layers"]
        heads = d["heads"]
        dh = D // heads
        hid = D * d["mlpRatio"]
        Tl, hl, wl = d["latent"]
        shapes["patch_embed.weight"] = (D, p * p * d["inChannels"])
        shapes["patch_embed.bias"] = (D,)
        shapes["pos_embed.spatial"] = ((hl // p) * (wl // p), D)
        shapes["pos_embed.temporal"] = (Tl, D)
        shapes["t_embedder.mlp.0.weight"] = (D, d["timestepDim"])
        shapes["t_embedder.mlp.0.bias"] = (D,)
        shapes["t_embedder.mlp.2.weight"] = (D, D)
        shapes["t_embedder.mlp.2.bias"] = (D,)
        if d.get("numClasses", 0):
            shapes["y_embedder.embedding_table"] = (d["numClasses"] + 1, D)
        lora = d.get("adaln", "lora") == "lora"
        if lora:
            shapes["adaln.base.weight"] = (6 * D, D)
            shapes["adaln.base.bias"] = (6 * D,)
        for i in range(L):
            b = f"blocks.{i}"
            if lora:
                r = d["loraRank"]
                shapes[f"{b}.adaln_lora.down.weight"] = (r, D)
                shapes[f"{b}.adaln_lora.up.weight"] = (6 * D, r)
            else:
                shapes[f"{b}.adaln.weight"] = (6 * D, D)
                shapes[f"{b}.adaln.bias"] = (6 * D,)
            shapes[f"{b}.attn.qkv.weight"] = (3 * D, D)
            shapes[f"{b}.attn.qkv.bias"] = (3 * D,)
            shapes[f"{b}.attn.q_norm.weight"] = (dh,)
            shapes[f"{b}.attn.k_norm.weight"] = (dh,)
            wt, wh, ww = layer_window(cfg, i)
            shapes[f"{b}.attn.rel_pos_bias.table"] = ((2 * wt - 1) * (2 * wh - 1) * (2 * ww - 1), heads)
            shapes[f"{b}.attn.proj.weight"] = (D, D)
            shapes[f"{b}.attn.proj.bias"] = (D,)
            shapes[f"{b}.mlp.fc1.weight"] = (hid, D)
            shapes[f"{b}.mlp.fc1.bias"] = (hid,)
            shapes[f"{b}.mlp.fc2.weight"] = (D, hid)
            shapes[f"{b}.mlp.fc2.bias"] = (D,)
        shapes["final_layer.adaln.weight"] = (2 * D, D)
        shapes["final_layer.adaln.bias"] = (2 * D,)
        shapes["final_layer.linear.weight"] = (p * p * d["outChannels"], D)
        shapes["final_layer.linear.bias"] = (p * p * d["outChannels"],)
    return shapes


# ----------------------------------------------------------------------------------------
# Schedule (§5.1) and noising (§5.2)
# ----------------------------------------------------------------------------------------

def alphas_cumprod_ztsnr(steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """ᾱ' of the zero-terminal-SNR rescaled linear schedule, float64 (Lin et al. Alg. 1)."""
    betas = np.linspace(beta_start, beta_end, steps, dtype=np.float64)
    abar = np.cumprod(1.0 - betas)
    s = np.sqrt(abar)
    s0, sT = s[0], s[-1]
    s = (s - sT) * s0 / (s0 - sT)
    abar_new = s * s
    # (re-deriving betas and taking cumprod again gives the same ᾱ'; kept for clarity)
    alphas = np.concatenate([abar_new[:1], abar_new[1:] / abar_new[:-1]])
    return np.cumprod(alphas)


def noise_latent(z0: torch.Tensor, eps: torch.Tensor, t: int):
    abar = float(alphas_cumprod_ztsnr()[t])
    return math.sqrt(abar) * z0 + math.sqrt(1.0 - abar) * eps


# ----------------------------------------------------------------------------------------
# Encoder (§3)
# ----------------------------------------------------------------------------------------

def swish(x):
    return x * torch.sigmoid(x)


def _same_pad(size: int, k: int, s: int):
    """TF/JAX 'SAME' padding (before, after); for even sizes, k=3, s=2 this is (0, 1)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def causal_conv3d(x, w, b, stride=(1, 1, 1)):
    """x [1, Ci, T, H, W]; w [Co, Ci, kT, kH, kW]. §3.2: k_t-1 zero frames in front, none after;
    stride-1 spatial: symmetric k//2; stride-2 spatial: TF 'SAME' (0 before, 1 after)."""
    kt, kh, kw = w.shape[2:]
    st, sh, sw = stride
    H, W = x.shape[3], x.shape[4]
    ph = (kh // 2, kh // 2) if sh == 1 else _same_pad(H, kh, sh)
    pw = (kw // 2, kw // 2) if sw == 1 else _same_pad(W, kw, sw)
    x = F.pad(x, (pw[0], pw[1], ph[0], ph[1], kt - 1, 0))  # zeros
    return F.conv3d(x, w, b, stride=stride)


def group_norm_per_frame(x, weight, bias, groups: int):
    """x [1, C, T, H, W]. Statistics per frame t and per group of contiguous channels
    [g·C/G, (g+1)·C/G), over (C/G, H, W); biased variance; eps 1e-6; affine per channel."""
    _, C, T, H, W = x.shape
    xs = x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
    g = xs.reshape(groups, C // groups, T, H * W)
    mean = g.mean(dim=(1, 3), keepdim=True)
    var = (g - mean).pow(2).mean(dim=(1, 3), keepdim=True)
    y = ((g - mean) / torch.sqrt(var + GN_EPS)).reshape(1, C, T, H, W)
    y = y * weight.view(1, C, 1, 1, 1).to(y.dtype) + bias.view(1, C, 1, 1, 1).to(y.dtype)
    return y.to(x.dtype)


def resblock(x, P, prefix, groups):
    h = swish(group_norm_per_frame(x, P[f"{prefix}.norm1.weight"], P[f"{prefix}.norm1.bias"], groups))
    h = causal_conv3d(h, P[f"{prefix}.conv1.weight"], None)
    h = swish(group_norm_per_frame(h, P[f"{prefix}.norm2.weight"], P[f"{prefix}.norm2.bias"], groups))
    h = causal_conv3d(h, P[f"{prefix}.conv2.weight"], None)
    key = f"{prefix}.nin_shortcut.weight"
    s = F.conv3d(x, P[key]) if key in P else x
    return s + h


def encode(pixels, P, cfg, normalize=True):
    """pixels [T, H, W, 3] in [0,1] (fed unscaled) -> latent [T', H/8, W/8, c], normalised (§3.7)."""
    enc = cfg["encoder"]
    G = enc["groups"]
    x = pixels.permute(3, 0, 1, 2).unsqueeze(0)  # [1, 3, T, H, W]
    x = causal_conv3d(x, P["encoder.conv_in.weight"], None)
    for i, _ci, _co, stride in encoder_levels(enc):
        for j in range(enc["resBlocks"]):
            x = resblock(x, P, f"encoder.down.{i}.block.{j}", G)
        if stride is not None:
            x = causal_conv3d(x, P[f"encoder.down.{i}.downsample.conv.weight"],
                              P[f"encoder.down.{i}.downsample.conv.bias"], stride)
    for j in range(enc["midBlocks"]):
        x = resblock(x, P, f"encoder.mid.block.{j}", G)
    x = swish(group_norm_per_frame(x, P["encoder.norm_out.weight"], P["encoder.norm_out.bias"], G))
    x = F.conv3d(x, P["encoder.conv_out.weight"], P["encoder.conv_out.bias"])
    z = x[0].permute(1, 2, 3, 0)  # [T', h, w, c]
    if normalize:
        z = (z - P["latent_norm.mean"]) / P["latent_norm.std"]
    return z.contiguous()


# ----------------------------------------------------------------------------------------
# Denoiser (§4)
# ----------------------------------------------------------------------------------------

def layer_norm(x, eps=LN_EPS):
    """LayerNorm over the last dim, no affine, biased variance (computed in >= f32)."""
    xs = x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
    mean = xs.mean(dim=-1, keepdim=True)
    var = (xs - mean).pow(2).mean(dim=-1, keepdim=True)
    return ((xs - mean) / torch.sqrt(var + eps)).to(x.dtype)


def linear(x, P, name, bias=True):
    return F.linear(x, P[f"{name}.weight"], P[f"{name}.bias"] if bias else None)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def timestep_embedding(t: float, dim: int, dtype, device):
    """[cos(t·f_k) ‖ sin(t·f_k)], f_k = exp(-ln(10000)·k/(dim/2)), k = 0..dim/2-1 (computed in f64)."""
    half = dim // 2
    k = torch.arange(half, dtype=torch.float64)
    f = torch.exp(-math.log(10000.0) * k / half)
    a = float(t) * f
    return torch.cat([torch.cos(a), torch.sin(a)]).to(dtype=dtype, device=device)


_REL_INDEX_CACHE: dict = {}


def rel_pos_index(window, device):
    """idx[i, j] = ((ti-tj+Wt-1)(2Wh-1) + (yi-yj+Wh-1))(2Ww-1) + (xi-xj+Ww-1) with in-window
    index n = ((t·Wh) + y)·Ww + x (spec §4.5, Video-Swin)."""
    key = (tuple(window), str(device))
    if key not in _REL_INDEX_CACHE:
        Wt, Wh, Ww = window
        t, y, x = torch.meshgrid(torch.arange(Wt), torch.arange(Wh), torch.arange(Ww), indexing="ij")
        t, y, x = t.reshape(-1), y.reshape(-1), x.reshape(-1)  # row-major == in-window index n
        dt = t[:, None] - t[None, :] + Wt - 1
        dy = y[:, None] - y[None, :] + Wh - 1
        dx = x[:, None] - x[None, :] + Ww - 1
        idx = (dt * (2 * Wh - 1) + dy) * (2 * Ww - 1) + dx
        _REL_INDEX_CACHE[key] = idx.to(device)
    return _REL_INDEX_CACHE[key]


def window_partition(x, window):
    """x [T, h, w, ...rest] -> [nW, Nw, ...rest]; window id ((t/Wt)(h/Wh) + y/Wh)(w/Ww) + x/Ww,
    in-window n = ((t%Wt)·Wh + y%Wh)·Ww + x%Ww."""
    T, h, w = x.shape[:3]
    rest = x.shape[3:]
    Wt, Wh, Ww = window
    if T % Wt or h % Wh or w % Ww:
        raise ValueError(f"latent {T}x{h}x{w} not divisible by window {window}")
    x = x.reshape(T // Wt, Wt, h // Wh, Wh, w // Ww, Ww, *rest)
    nr = len(rest)
    x = x.permute(0, 2, 4, 1, 3, 5, *range(6, 6 + nr))
    return x.reshape((T // Wt) * (h // Wh) * (w // Ww), Wt * Wh * Ww, *rest)


def window_reverse(x, window, T, h, w):
    """Inverse of window_partition: [nW, Nw, ...rest] -> [T, h, w, ...rest]."""
    Wt, Wh, Ww = window
    rest = x.shape[2:]
    nr = len(rest)
    x = x.reshape(T // Wt, h // Wh, w // Ww, Wt, Wh, Ww, *rest)
    x = x.permute(0, 3, 1, 4, 2, 5, *range(6, 6 + nr))
    return x.reshape(T, h, w, *rest)


def window_attention(h, P, prefix, cfg, window, spatial: bool):
    """h [T, hp, wp, D] (normalised & modulated) -> proj(attention) [T, hp, wp, D] (§4.5)."""
    d = cfg["denoiser"]
    T, hp, wp, D = h.shape
    H = d["heads"]
    dh = D // H
    qkv = linear(h, P, f"{prefix}.qkv")  # [T, hp, wp, 3D]: rows q | k | v, head-major inside
    q, k, v = qkv.split(D, dim=-1)
    q = q.reshape(T, hp, wp, H, dh)
    k = k.reshape(T, hp, wp, H, dh)
    v = v.reshape(T, hp, wp, H, dh)
    if not spatial and T == 1:
        # identity attention for a 1-frame input in an ST layer: o = v, then proj (§4.5)
        o = v
    else:
        q = layer_norm(q) * P[f"{prefix}.q_norm.weight"]
        k = layer_norm(k) * P[f"{prefix}.k_norm.weight"]
        qw = window_partition(q, window).permute(0, 2, 1, 3)  # [nW, H, Nw, dh]
        kw = window_partition(k, window).permute(0, 2, 1, 3)
        vw = window_partition(v, window).permute(0, 2, 1, 3)
        idx = rel_pos_index(window, h.device)  # [Nw, Nw]
        table = P[f"{prefix}.rel_pos_bias.table"]  # [rows, H]
        bias = table[idx].permute(2, 0, 1)  # [H, Nw, Nw]
        s = torch.matmul(qw, kw.transpose(-1, -2)) / math.sqrt(dh) + bias
        if s.dtype in (torch.bfloat16, torch.float16):
            a = torch.softmax(s.float(), dim=-1).to(s.dtype)
        else:
            a = torch.softmax(s, dim=-1)
        ow = torch.matmul(a, vw).permute(0, 2, 1, 3)  # [nW, Nw, H, dh]
        o = window_reverse(ow, window, T, hp, wp)
    o = o.reshape(T, hp, wp, D)
    return linear(o, P, f"{prefix}.proj")


def patchify(x, p):
    """[T, H, W, C] -> [T, H/p, W/p, p·p·C], patch flattened in (py, px, c) order."""
    T, H, W, C = x.shape
    x = x.reshape(T, H // p, p, W // p, p, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(T, H // p, W // p, p * p * C)


def unpatchify(x, p, c):
    """[T, h, w, p·p·c] -> [T, h·p, w·p, c]."""
    T, h, w, _ = x.shape
    x = x.reshape(T, h, w, p, p, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(T, h * p, w * p, c)


def conditioning(P, cfg, t, cls):
    """c = temb(t) + y_embedder[cls] (cls None -> null class = last row); returns u = silu(c)."""
    d = cfg["denoiser"]
    W0 = P["t_embedder.mlp.0.weight"]
    e = timestep_embedding(t, d["timestepDim"], W0.dtype, W0.device)
    temb = linear(swish(linear(e, P, "t_embedder.mlp.0")), P, "t_embedder.mlp.2")
    c = temb
    if "y_embedder.embedding_table" in P:
        table = P["y_embedder.embedding_table"]
        row = table.shape[0] - 1 if cls is None else int(cls)
        if not 0 <= row < table.shape[0]:
            raise ValueError(f"class {cls} out of range")
        c = c + table[row]
    return swish(c)


def block_modulation(P, cfg, i, u):
    """A^i -> (γ1, γ2, β1, β2, α1, α2) in the paper order (§4.3)."""
    d = cfg["denoiser"]
    if d.get("adaln", "lora") == "lora":
        A = linear(u, P, "adaln.base")
        A = A + F.linear(F.linear(u, P[f"blocks.{i}.adaln_lora.down.weight"]), P[f"blocks.{i}.adaln_lora.up.weight"])
    else:
        A = linear(u, P, f"blocks.{i}.adaln")
    return A.chunk(6, dim=-1)


def denoise(z_t, P, cfg, t, cls, taps: dict | None = None):
    """z_t [T, H, W, c] (normalised latent, noised) -> v̂ [T, H, W, c] (§4).
    If `taps` is a dict it receives block.1 .. block.L (residual stream after each block)."""
    d = cfg["denoiser"]
    p, D = d["patch"], d["width"]
    T, Hl, Wl, c = z_t.shape
    # input assembly: [z_t ‖ x̂0_sc = 0 ‖ (m∘z_ctx = 0 ‖ m = 0)] -> inChannels
    extra = d["inChannels"] - c
    x = torch.cat([z_t, z_t.new_zeros(T, Hl, Wl, extra)], dim=-1) if extra > 0 else z_t
    x = linear(patchify(x, p), P, "patch_embed")  # [T, hp, wp, D]
    hp, wp = Hl // p, Wl // p
    spatial = P["pos_embed.spatial"].reshape(hp, wp, D)
    temporal = P["pos_embed.temporal"][:T]  # 1-frame input -> row 0; frame t -> row t
    x = x + spatial.unsqueeze(0) + temporal.reshape(T, 1, 1, D)
    u = conditioning(P, cfg, t, cls)
    for i in range(d["layers"]):
        g1, g2, b1, b2, a1, a2 = block_modulation(P, cfg, i, u)
        pre = f"blocks.{i}"
        h = layer_norm(x) * (1 + g1) + b1
        o = window_attention(h, P, f"{pre}.attn", cfg, layer_window(cfg, i), layer_is_spatial(cfg, i))
        x = x + a1 * o
        h = layer_norm(x) * (1 + g2) + b2
        h = linear(gelu_tanh(linear(h, P, f"{pre}.mlp.fc1")), P, f"{pre}.mlp.fc2")
        x = x + a2 * h
        if taps is not None:
            taps[f"block.{i + 1}"] = x
    fm = linear(u, P, "final_layer.adaln")
    shift, scale = fm[:D], fm[D:2 * D]  # DiT order for the final layer
    h = layer_norm(x) * (1 + scale) + shift
    out = linear(h, P, "final_layer.linear")
    return unpatchify(out, p, d["outChannels"])


def forward(P, cfg, inp, t, eps, cls, latent_input=False):
    """Full extraction pass. Returns an ordered dict: latent (pixel input), z_t, block.i, v_pred."""
    out = {}
    if latent_input:
        z0 = inp
    else:
        z0 = encode(inp, P, cfg)
        out["latent"] = z0
    z_t = noise_latent(z0, eps, t)
    out["z_t"] = z_t
    taps: dict = {}
    v = denoise(z_t, P, cfg, t, cls, taps)
    out.update(taps)
    out["v_pred"] = v
    return out


# ----------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------

def load_weights(path, cfg, dtype=torch.float64, device="cpu", strict=True) -> dict:
    raw = read_safetensors(path)
    shapes = weight_shapes(cfg)
    if strict:
        missing = [k for k in shapes if k not in raw]
        extra = [k for k in raw if k not in shapes]
        bad = [k for k in shapes if k in raw and tuple(raw[k].shape) != tuple(shapes[k])]
        if missing or extra or bad:
            raise ValueError(f"weights do not match config {cfg['name']}: missing {missing[:5]} "
                             f"extra {extra[:5]} wrong shape {bad[:5]}")
    return {k: torch.from_numpy(np.asarray(v, dtype=np.float64)).to(device=device, dtype=dtype)
            for k, v in raw.items()}


def init_weights(cfg, seed=0, dtype=torch.float32, device="cpu", parts=("encoder", "latent_norm", "denoiser")):
    """Random weights that keep activations O(1) and make every term matter (fixture / bench init).
    Linear & conv weights N(0, 1/sqrt(fan_in)) (encoder.conv_in ×0.05); biases N(0, 0.1); norm affine 1 + N(0, 0.1) / N(0, 0.1);
    qk-norm scales 1 + N(0, 0.1); relative-position tables N(0, 0.5); LoRA up/down N(0, 1/sqrt(fan_in));
    embeddings / position tables N(0, 0.5); latent_norm mean N(0, 0.1), std U(0.5, 1.5)."""
    gen = torch.Generator().manual_seed(int(seed))
    P = {}
    for name, shape in weight_shapes(cfg, parts).items():
        def normal(std, mean=0.0):
            return torch.randn(shape, generator=gen, dtype=torch.float32) * std + mean

        leaf = name.rsplit(".", 1)[-1]
        if name == "latent_norm.mean":
            w = normal(0.1)
        elif name == "latent_norm.std":
            w = 0.5 + torch.rand(shape, generator=gen, dtype=torch.float32)
        elif name.endswith("q_norm.weight") or name.endswith("k_norm.weight"):
            w = normal(0.1, 1.0)
        elif name.endswith("rel_pos_bias.table"):
            w = normal(0.5)
        elif ".norm" in name and leaf == "weight":  # GroupNorm affine scale
            w = normal(0.1, 1.0)
        elif ".norm" in name and leaf == "bias":
            w = normal(0.1)
        elif name.startswith("pos_embed") or name == "y_embedder.embedding_table":
            w = normal(0.5)
        elif leaf == "bias":
            w = normal(0.1)
        elif leaf == "weight":
            fan_in = int(np.prod(shape[1:]))
            gain = 1.0
            if name == "encoder.conv_in.weight":
                gain = 0.05  # small first-layer activations: GroupNorm's eps (1e-6) becomes visible
            w = normal(gain / math.sqrt(fan_in))
        else:
            raise ValueError(name)
        P[name] = w.to(device=device, dtype=dtype)
    return P


# ----------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cmd_forward(args):
    cfg = load_config(args.config)
    dtype = DTYPES[args.dtype]
    P = load_weights(args.weights, cfg, dtype=dtype, device=args.device)
    inp = torch.from_numpy(read_npy(args.input).astype(np.float64)).to(args.device, dtype)
    eps = torch.from_numpy(read_npy(args.noise).astype(np.float64)).to(args.device, dtype)
    with torch.no_grad():
        out = forward(P, cfg, inp, args.t, eps, args.cls, latent_input=args.latent)
    write_safetensors(args.out, out, metadata={"config": cfg["name"], "t": args.t, "class": args.cls,
                                               "dtype": args.dtype, "torch": torch.__version__})
    for k, v in out.items():
        print(f"{k:10s} {tuple(v.shape)}  max|x| {float(v.abs().max()):.4g}")


def cmd_init(args):
    cfg = load_config(args.config)
    P = init_weights(cfg, args.seed)
    write_safetensors(args.out, P, metadata={"config": cfg["name"], "seed": args.seed})


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn, device, warmup, runs):
    for _ in range(warmup):
        fn()
        _sync(device)
    ts = []
    for _ in range(runs):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts), ts


def cmd_bench(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    frames = args.frames or cfg["pixels"][0]
    size = args.size or cfg["pixels"][1]
    if [frames, size, size] != list(cfg["pixels"]):
        cfg = resize_config(cfg, frames, size)
    device = args.device
    if device.startswith("cuda"):
        tf32 = not args.no_tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    dtype = DTYPES[args.dtype]
    P = init_weights(cfg, seed=0, dtype=torch.float32, device=device)
    P = {k: v.to(dtype) for k, v in P.items()}
    gen = torch.Generator().manual_seed(1)
    pixels = torch.rand((frames, size, size, 3), generator=gen).to(device, dtype)
    with torch.no_grad():
        z0 = encode(pixels, P, cfg)
        eps = torch.randn(tuple(z0.shape), generator=gen).to(device, dtype)
        z_t = noise_latent(z0, eps, args.t)
        enc_ms, enc_all = _time(lambda: encode(pixels, P, cfg), device, args.warmup, args.runs)
        den_ms, den_all = _time(lambda: denoise(z_t, P, cfg, args.t, None), device, args.warmup, args.runs)
    dev_name = device if not device.startswith("cuda") else f"{device} ({torch.cuda.get_device_name()})"
    rec = {"impl": "pytorch", "device": dev_name,
           "dtype": args.dtype, "config": cfg["name"], "frames": frames, "size": size,
           "latent": list(z0.shape), "encoder_ms": round(enc_ms, 3), "denoiser_ms": round(den_ms, 3),
           "total_ms": round(enc_ms + den_ms, 3), "torch_version": torch.__version__,
           "threads": torch.get_num_threads(), "runs": args.runs, "warmup": args.warmup}
    if device.startswith("cuda"):
        rec["tf32"] = not args.no_tf32
    if args.json:
        print(json.dumps(rec))
    else:
        for k, v in rec.items():
            print(f"{k}: {v}")
        print("encoder runs ms:", [round(x, 1) for x in enc_all])
        print("denoiser runs ms:", [round(x, 1) for x in den_all])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    f = sub.add_parser("forward", help="one extraction pass; writes latent, z_t, block.i, v_pred (F32)")
    f.add_argument("--config", required=True, help="config name (src/model/configs/<name>.json) or a .json path")
    f.add_argument("--weights", required=True)
    f.add_argument("--input", required=True, help="pixels [T,H,W,3] in [0,1], or with --latent a normalised latent")
    f.add_argument("--latent", action="store_true", help="input is a normalised latent [T',h,w,c]")
    f.add_argument("--t", type=int, default=200)
    f.add_argument("--noise", required=True, help="eps .npy, latent shape")
    f.add_argument("--class", dest="cls", type=int, default=None, help="class id (default: the null class)")
    f.add_argument("--out", required=True)
    f.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    f.add_argument("--device", default="cpu")
    f.set_defaults(fn=cmd_forward)

    b = sub.add_parser("bench", help="time encoder and denoiser with random weights")
    b.add_argument("--config", default="L")
    b.add_argument("--frames", type=int, default=None)
    b.add_argument("--size", type=int, default=None)
    b.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "float64"])
    b.add_argument("--device", default="cpu")
    b.add_argument("--no-tf32", action="store_true", help="CUDA: disable TF32 matmul/conv")
    b.add_argument("--t", type=int, default=200)
    b.add_argument("--runs", type=int, default=3)
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (default: torch's default, i.e. OMP_NUM_THREADS)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(fn=cmd_bench)

    i = sub.add_parser("init", help="write random canonical weights (F32)")
    i.add_argument("--config", required=True)
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--out", required=True)
    i.set_defaults(fn=cmd_init)

    args = ap.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()
