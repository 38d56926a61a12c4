#!/usr/bin/python3
"""Which conventions does a golden vector pin down? Flips one convention of walt_ref at a time
(by monkeypatching) and reports the worst max|a-b|/max|b| per case. A convention is "pinned"
when its flip moves some tensor far above the 1e-4 tolerance.

  /usr/bin/python3 tools/reference/golden_sensitivity.py [--golden DIR] [--config micro]
"""

import argparse
import contextlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import walt_ref as W  # noqa: E402


@contextlib.contextmanager
def patched(**repl):
    old = {k: getattr(W, k) for k in repl}
    W._REL_INDEX_CACHE.clear()
    try:
        for k, v in repl.items():
            setattr(W, k, v)
        yield
    finally:
        for k, v in old.items():
            setattr(W, k, v)
        W._REL_INDEX_CACHE.clear()


ORIG = {k: getattr(W, k) for k in dir(W) if not k.startswith("__")}


def v_dit_chunks(P, cfg, i, u):
    shift1, scale1, gate1, shift2, scale2, gate2 = ORIG["block_modulation"](P, cfg, i, u)
    # reinterpret the same 6 chunks in DiT order -> return in paper order (γ1,γ2,β1,β2,α1,α2)
    return scale1, scale2, shift1, shift2, gate1, gate2


def v_no_lora_layer0(P, cfg, i, u):
    if i == 0:
        return W.linear(u, P, "adaln.base").chunk(6, dim=-1)
    return ORIG["block_modulation"](P, cfg, i, u)


def v_same_pad_11(size, k, s):
    return (1, 1)


def v_gn_interleaved(x, weight, bias, groups):
    _, C, T, H, Wd = x.shape
    perm = torch.arange(C).reshape(C // groups, groups).t().reshape(-1)  # group g = {c : c % G == g}
    inv = torch.argsort(perm)
    y = ORIG["group_norm_per_frame"](x[:, perm], weight[perm], bias[perm], groups)
    return y[:, inv]


def v_gn_pooled_time(x, weight, bias, groups):
    _, C, T, H, Wd = x.shape
    g = x.reshape(groups, C // groups, T * H * Wd)
    mean = g.mean(dim=(1, 2), keepdim=True)
    var = (g - mean).pow(2).mean(dim=(1, 2), keepdim=True)
    y = ((g - mean) / torch.sqrt(var + W.GN_EPS)).reshape(1, C, T, H, Wd)
    return y * weight.view(1, C, 1, 1, 1) + bias.view(1, C, 1, 1, 1)


def v_gn_eps_1e5(x, weight, bias, groups):
    old = W.GN_EPS
    W.GN_EPS = 1e-5
    try:
        return ORIG["group_norm_per_frame"](x, weight, bias, groups)
    finally:
        W.GN_EPS = old


def v_causal_replicate(x, w, b, stride=(1, 1, 1)):
    kt = w.shape[2]
    if kt > 1:
        x = torch.cat([x[:, :, :1]] * (kt - 1) + [x], dim=2)
        # now conv with no temporal padding: emulate by dropping the zero frames the original adds
        out = ORIG["causal_conv3d"](x, w, b, stride)
        # original padded kt-1 zeros in front of the replicated clip; remove those leading outputs
        skip = (kt - 1) // stride[0] if (kt - 1) % stride[0] == 0 else None
        if skip is None:
            raise NotImplementedError
        return out[:, :, skip:]
    return ORIG["causal_conv3d"](x, w, b, stride)


def v_kernel_time_flip(x, w, b, stride=(1, 1, 1)):
    return ORIG["causal_conv3d"](x, torch.flip(w, dims=[2]), b, stride)


def v_schedule_plain():
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    return np.cumprod(1.0 - betas)


def v_schedule_shift1():
    a = ORIG["alphas_cumprod_ztsnr"]()
    return np.concatenate([a[:1], a[:-1]])  # index t reads the ZT-SNR value of t-1 (1-based t)


def v_rel_index_transposed(window, device):
    return ORIG["rel_pos_index"](window, device).t().contiguous()


def v_rel_index_xyt(window, device):
    # a different flattening of the 3D offset: x slowest, t fastest
    Wt, Wh, Ww = window
    t, y, x = torch.meshgrid(torch.arange(Wt), torch.arange(Wh), torch.arange(Ww), indexing="ij")
    t, y, x = t.reshape(-1), y.reshape(-1), x.reshape(-1)
    dt = t[:, None] - t[None, :] + Wt - 1
    dy = y[:, None] - y[None, :] + Wh - 1
    dx = x[:, None] - x[None, :] + Ww - 1
    return ((dx * (2 * Wh - 1) + dy) * (2 * Wt - 1) + dt).to(device)


def v_window_dilated(x, window):
    # windows made of strided (dilated) tokens instead of contiguous blocks
    T, h, w = x.shape[:3]
    rest = x.shape[3:]
    Wt, Wh, Ww = window
    x = x.reshape(Wt, T // Wt, Wh, h // Wh, Ww, w // Ww, *rest)
    nr = len(rest)
    x = x.permute(1, 3, 5, 0, 2, 4, *range(6, 6 + nr))
    return x.reshape((T // Wt) * (h // Wh) * (w // Ww), Wt * Wh * Ww, *rest)


def v_window_dilated_rev(x, window, T, h, w):
    Wt, Wh, Ww = window
    rest = x.shape[2:]
    nr = len(rest)
    x = x.reshape(T // Wt, h // Wh, w // Ww, Wt, Wh, Ww, *rest)
    x = x.permute(3, 0, 4, 1, 5, 2, *range(6, 6 + nr))
    return x.reshape(T, h, w, *rest)


def v_qk_rms(x, eps=W.LN_EPS):
    if x.shape[-1] != x.shape[-1] or x.dim() != 5:  # q/k are [T,h,w,H,dh]; block LN is 4-D
        return ORIG["layer_norm"](x, eps)
    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)


def v_gelu_erf(x):
    return F.gelu(x)


def v_temb_sin_cos(t, dim, dtype, device):
    e = ORIG["timestep_embedding"](t, dim, dtype, device)
    return torch.cat([e[dim // 2:], e[:dim // 2]])


def v_temb_t_over_1000(t, dim, dtype, device):
    return ORIG["timestep_embedding"](t / 1000.0, dim, dtype, device)


def v_null_row0(P, cfg, t, cls):
    return ORIG["conditioning"](P, cfg, t, 0 if cls is None else cls)


def v_no_class_for_null(P, cfg, t, cls):
    if cls is None:
        Q = dict(P)
        Q.pop("y_embedder.embedding_table")
        return ORIG["conditioning"](Q, cfg, t, None)
    return ORIG["conditioning"](P, cfg, t, cls)


def v_u_equals_c(P, cfg, t, cls):
    u = ORIG["conditioning"](P, cfg, t, cls)
    # invert silu by Newton iterations to recover c (silu is invertible for c > -1.278...)
    c = u.clone()
    for _ in range(100):
        s = torch.sigmoid(c)
        f = c * s - u
        df = s + c * s * (1 - s)
        c = c - f / df
    return c


def run(golden, cfg, P, cases):
    worst = {}
    for name, spec in cases["cases"].items():
        d = golden / name
        inp = torch.from_numpy(W.read_npy(d / "input.npy").astype(np.float64))
        eps = torch.from_numpy(W.read_npy(d / "noise.npy").astype(np.float64))
        exp = W.read_safetensors(d / "expected.safetensors")
        with torch.no_grad():
            out = W.forward(P, cfg, inp, 200, eps, spec["class"], latent_input=spec["latent_input"])
        rel = {k: float(np.abs(out[k].numpy() - exp[k]).max() / np.abs(exp[k]).max()) for k in out}
        worst[name] = max(rel.values())
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", default=str(W.REPO_ROOT.parent / "shared" / "golden" / "micro"))
    ap.add_argument("--config", default="micro")
    a = ap.parse_args()
    golden = Path(a.golden)
    cfg = W.load_config(a.config)
    P = W.load_weights(golden / "weights.safetensors", cfg)
    cases = json.loads((golden / "cases.json").read_text())

    def image_st_full(h, P_, prefix, cfg_, window, spatial):
        # no identity path: a 1-frame input attends inside (1, Wh, Ww) windows with the dt=0 slice
        if not spatial and h.shape[0] == 1:
            Wt, Wh, Ww = window
            orig_idx = ORIG["rel_pos_index"]
            with patched(rel_pos_index=lambda win, dev: _slice_idx(win, Wt, dev, orig_idx)):
                return ORIG["window_attention"](h, P_, prefix, cfg_, (1, Wh, Ww), True)
        return ORIG["window_attention"](h, P_, prefix, cfg_, window, spatial)

    def _slice_idx(win, Wt_full, dev, orig_idx):
        _, Wh, Ww = win
        full = orig_idx((Wt_full, Wh, Ww), dev)
        n = Wh * Ww
        return full[:n, :n]  # tokens at t=0 against t=0: dt = 0 rows of the full table

    def no_temporal_for_image(z_t, P_, cfg_, t, cls, taps=None):
        if z_t.shape[0] == 1:
            Q = dict(P_)
            Q["pos_embed.temporal"] = torch.zeros_like(P_["pos_embed.temporal"])
            return ORIG["denoise"](z_t, Q, cfg_, t, cls, taps)
        return ORIG["denoise"](z_t, P_, cfg_, t, cls, taps)

    def image_last_temporal(z_t, P_, cfg_, t, cls, taps=None):
        if z_t.shape[0] == 1:
            Q = dict(P_)
            Q["pos_embed.temporal"] = P_["pos_embed.temporal"][-1:]
            return ORIG["denoise"](z_t, Q, cfg_, t, cls, taps)
        return ORIG["denoise"](z_t, P_, cfg_, t, cls, taps)

    def final_swapped(z_t, P_, cfg_, t, cls, taps=None):
        Q = dict(P_)
        D = cfg_["denoiser"]["width"]
        for k in ("final_layer.adaln.weight", "final_layer.adaln.bias"):
            Q[k] = torch.cat([P_[k][D:], P_[k][:D]])
        return ORIG["denoise"](z_t, Q, cfg_, t, cls, taps)

    def pixels_2x_minus_1(pixels, P_, cfg_, normalize=True):
        return ORIG["encode"](2 * pixels - 1, P_, cfg_, normalize)

    def latent_norm_mul(pixels, P_, cfg_, normalize=True):
        z = ORIG["encode"](pixels, P_, cfg_, normalize=False)
        return (z - P_["latent_norm.mean"]) * P_["latent_norm.std"]

    variants = [
        ("canonical (walt_ref as written)", {}),
        ("AdaLN chunks in DiT order (shift,scale,gate ×2)", dict(block_modulation=v_dit_chunks)),
        ("no LoRA term in layer 0 (paper eq. 3)", dict(block_modulation=v_no_lora_layer0)),
        ("u = c (no SiLU before AdaLN / final layer)", dict(conditioning=v_u_equals_c)),
        ("final layer (scale, shift) instead of (shift, scale)", dict(denoise=final_swapped)),
        ("null class = row 0", dict(conditioning=v_null_row0)),
        ("null class = no class embedding", dict(conditioning=v_no_class_for_null)),
        ("image: no temporal PE", dict(denoise=no_temporal_for_image)),
        ("image: last temporal PE row", dict(denoise=image_last_temporal)),
        ("image: ST layer attends (no identity path)", dict(window_attention=image_st_full)),
        ("timestep sinusoid [sin|cos]", dict(timestep_embedding=v_temb_sin_cos)),
        ("timestep fed as t/1000", dict(timestep_embedding=v_temb_t_over_1000)),
        ("GELU exact (erf)", dict(gelu_tanh=v_gelu_erf)),
        ("qk-norm RMSNorm instead of LN", dict(layer_norm=v_qk_rms)),
        ("rel-pos index transposed (j-i)", dict(rel_pos_index=v_rel_index_transposed)),
        ("rel-pos index flattened (x,y,t)", dict(rel_pos_index=v_rel_index_xyt)),
        ("windows dilated instead of contiguous", dict(window_partition=v_window_dilated,
                                                      window_reverse=v_window_dilated_rev)),
        ("schedule without zero-terminal-SNR", dict(alphas_cumprod_ztsnr=v_schedule_plain)),
        ("schedule index t-1 (1-based t)", dict(alphas_cumprod_ztsnr=v_schedule_shift1)),
        ("stride-2 spatial pad (1,1) (PyTorch ports)", dict(_same_pad=v_same_pad_11)),
        ("causal pad replicates frame 0", dict(causal_conv3d=v_causal_replicate)),
        ("conv kernel time-flipped", dict(causal_conv3d=v_kernel_time_flip)),
        ("GroupNorm interleaved channel groups", dict(group_norm_per_frame=v_gn_interleaved)),
        ("GroupNorm stats pooled over (T,H,W)", dict(group_norm_per_frame=v_gn_pooled_time)),
        ("GroupNorm eps 1e-5", dict(group_norm_per_frame=v_gn_eps_1e5)),
        ("pixels fed as 2x-1", dict(encode=pixels_2x_minus_1)),
        ("latent_norm (z-mean)*std", dict(encode=latent_norm_mul)),
    ]
    names = list(cases["cases"])
    print(f"{'variant':55s} " + " ".join(f"{n:>13s}" for n in names) + "  pinned?")
    for label, repl in variants:
        with patched(**repl):
            worst = run(golden, cfg, P, cases)
        pinned = "yes" if max(worst.values()) > 1e-3 else ("weak" if max(worst.values()) > 1e-4 else "NO")
        if not repl:
            pinned = "-"
        print(f"{label:55s} " + " ".join(f"{worst[n]:13.2e}" for n in names) + f"  {pinned}")


if __name__ == "__main__":
    main()
