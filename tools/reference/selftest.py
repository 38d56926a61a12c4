#!/usr/bin/python3
"""Self-checks of walt_ref that need no golden: file formats, schedule table (§5.1), window
partition, separate-AdaLN vs folded LoRA, first-frame independence, identity path.

  /usr/bin/python3 tools/reference/selftest.py
"""

import copy
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import walt_ref as W  # noqa: E402


def main():
    tmp = Path(tempfile.mkdtemp())
    # .npy: our writer/reader vs numpy's
    for shape in [(17, 4, 5, 3), (8,), (), (2, 3)]:
        a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        W.write_npy(tmp / "a.npy", a)
        assert np.array_equal(np.load(tmp / "a.npy"), a)
        np.save(tmp / "b.npy", a)
        assert np.array_equal(W.read_npy(tmp / "b.npy"), a)
    # safetensors round trip
    t = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.ones((1,), np.float32)}
    W.write_safetensors(tmp / "t.safetensors", t, metadata={"k": 1})
    r = W.read_safetensors(tmp / "t.safetensors")
    assert list(r) == ["x", "y"] and np.array_equal(r["x"], t["x"])
    print("file formats ok")

    # schedule (§5.1 table)
    ab = W.alphas_cumprod_ztsnr()
    for i, want in [(0, 0.999900), (100, 0.894490), (199, 0.657087), (200, 0.654382), (300, 0.391029),
                    (500, 0.075246)]:
        assert abs(ab[i] - want) < 5e-7, (i, ab[i], want)
    assert ab[999] < 1e-20
    betas = 1 - np.concatenate([ab[:1], ab[1:] / ab[:-1]])
    assert abs(betas[0] - 1e-4) < 1e-12 and abs(betas[999] - 1) < 1e-12
    print(f"schedule ok: abar[200] = {ab[200]:.7f}, sqrt = {math.sqrt(ab[200]):.6f}, "
          f"sqrt(1-abar) = {math.sqrt(1 - ab[200]):.6f}")

    # window partition: ids and in-window indices as §4.5 step 3
    T, h, w, win = 5, 8, 8, (5, 4, 4)
    n = torch.arange(T * h * w).reshape(T, h, w)
    parts = W.window_partition(n, win)
    for tok in range(T * h * w):
        tt, y, x = tok // (h * w), (tok // w) % h, tok % w
        wid = ((tt // win[0]) * (h // win[1]) + y // win[1]) * (w // win[2]) + x // win[2]
        inw = ((tt % win[0]) * win[1] + y % win[1]) * win[2] + x % win[2]
        assert parts[wid, inw] == tok
    assert torch.equal(W.window_reverse(parts, win, T, h, w), n)
    idx = W.rel_pos_index((5, 4, 4), "cpu")
    assert idx.min() == 0 and idx.max() == 9 * 7 * 7 - 1 and idx[0, 0] == (4 * 7 + 3) * 7 + 3
    print("window partition / relative index ok")

    # separate AdaLN with weight = base + up·down reproduces the LoRA model exactly
    cfg = W.load_config("test-tiny")
    P = W.init_weights(cfg, seed=5, dtype=torch.float64)
    cfg_s = copy.deepcopy(cfg)
    cfg_s["denoiser"]["adaln"] = "separate"
    Ps = {k: v for k, v in P.items() if not k.startswith("adaln.") and ".adaln_lora." not in k}
    for i in range(cfg["denoiser"]["layers"]):
        Ps[f"blocks.{i}.adaln.weight"] = P["adaln.base.weight"] + \
            P[f"blocks.{i}.adaln_lora.up.weight"] @ P[f"blocks.{i}.adaln_lora.down.weight"]
        Ps[f"blocks.{i}.adaln.bias"] = P["adaln.base.bias"].clone()
    assert set(Ps) == set(W.weight_shapes(cfg_s))
    z = torch.randn(5, 8, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        a = W.denoise(z, P, cfg, 200, 3)
        b = W.denoise(z, Ps, cfg_s, 200, 3)
    d = float((a - b).abs().max())
    assert d < 1e-12, d
    print(f"separate AdaLN == folded LoRA: max diff {d:.1e}")

    # first-frame independence (§3.6) and the identity path (§4.5)
    pix = torch.rand(17, 64, 64, 3, dtype=torch.float64)
    with torch.no_grad():
        zv = W.encode(pix, P, cfg)
        pix2 = pix.clone()
        pix2[1:] = torch.rand(16, 64, 64, 3, dtype=torch.float64)
        zv2 = W.encode(pix2, P, cfg)
        zi = W.encode(pix[:1], P, cfg)
    assert zv.shape == (5, 8, 8, 8) and zi.shape == (1, 8, 8, 8)
    assert float((zv[0] - zi[0]).abs().max()) < 1e-12
    assert float((zv[0] - zv2[0]).abs().max()) == 0.0 and float((zv[1] - zv2[1]).abs().max()) > 1e-3
    # latent k depends only on frames <= 4k
    pix3 = pix.clone()
    pix3[9:] = 0.5
    with torch.no_grad():
        zv3 = W.encode(pix3, P, cfg)
    assert float((zv3[:3] - zv[:3]).abs().max()) == 0.0 and float((zv3[3] - zv[3]).abs().max()) > 1e-3
    print("encoder causality ok (latent 0 = f(frame 0); latent k = f(frames <= 4k))")

    # identity path: for a 1-frame input an ST layer's attention output equals proj(v)
    h = torch.randn(1, 8, 8, 64, dtype=torch.float64)
    o = W.window_attention(h, P, "blocks.1.attn", cfg, (5, 4, 4), spatial=False)
    v = W.linear(h, P, "blocks.1.attn.qkv")[..., 128:]
    assert float((o - W.linear(v, P, "blocks.1.attn.proj")).abs().max()) < 1e-12
    print("identity path ok")
    print("PASS")


if __name__ == "__main__":
    main()
