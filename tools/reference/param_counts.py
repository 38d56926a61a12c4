#!/usr/bin/python3
"""Recomputes parameter counts from the JSON configs (via walt_ref.weight_shapes, i.e. the same
canonical names/shapes the reference loads) and asserts the spec's figures (§3.5, §4.11).

  /usr/bin/python3 tools/reference/param_counts.py
"""

import copy
import sys
from math import prod
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import walt_ref as W  # noqa: E402


def count(cfg, parts):
    return sum(prod(s) for s in W.weight_shapes(cfg, parts).values())


def count_text(cfg, t5_dim=2048):
    """Text-conditioned variant: c = temb (no y_embedder), inChannels 25, and per layer
    xattn.{q [D,D]+b, kv [2D,D]+b, q_norm [dh], k_norm [dh], proj [D,D]+b}, text_proj [D, t5_dim]+b."""
    c = copy.deepcopy(cfg)
    c["denoiser"].update(numClasses=0, inChannels=25)
    D = c["denoiser"]["width"]
    dh = D // c["denoiser"]["heads"]
    per_layer = (D * D + D) + (2 * D * D + 2 * D) + 2 * dh + (D * D + D)
    return count(c, ("denoiser",)) + c["denoiser"]["layers"] * per_layer + D * t5_dim + D


def main():
    failures = []

    def check(label, got, want):
        ok = got == want
        print(f"  {label:42s} {got:>13,d}   spec {want:>13,d}   {'ok' if ok else 'MISMATCH'}")
        if not ok:
            failures.append(label)

    print("denoiser (spec §4.11):")
    L = W.load_config("L")
    check("L (r=2, 101 classes)", count(L, ("denoiser",)), 313_238_408)
    check("XL", count(W.load_config("XL"), ("denoiser",)), 460_019_080)
    check("L-separate", count(W.load_config("L-separate"), ("denoiser",)), 457_739_144)
    k600 = copy.deepcopy(L)
    k600["denoiser"].update(numClasses=0, inChannels=25)
    check("L K600 (no classes, 25 input channels)", count(k600, ("denoiser",)), 313_143_176)

    print("text models (spec §4.6/§4.11: no class table, 25 input channels, per-layer cross-attention"
          " + text_proj from T5-XL 2048; not implemented in walt_ref, counted here only):")
    check("L + text cross-attn", count_text(L), 416_006_024)
    check("study-284m (16x1024) + text cross-attn", count_text(W.load_config("study-284m")), 281_373_960)

    print("encoder (spec §3.5, includes the 16 latent_norm values):")
    check("encoder, 128 channels", count(L, ("encoder", "latent_norm")), 144_860_184)
    n_enc_tensors = len(W.weight_shapes(L, ("encoder", "latent_norm")))
    check("encoder + latent_norm tensor count", n_enc_tensors, 135)

    print("LoRA rank sweep (spec §4.11, Table 3d), L config:")
    sweep = {4: 313.58, 16: 315.65, 64: 323.90, 256: 356.93}
    for r, want_m in sweep.items():
        c = copy.deepcopy(L)
        c["denoiser"]["loraRank"] = r
        n = count(c, ("denoiser",))
        ok = round(n / 1e6, 2) == want_m
        print(f"  r={r:<3d} {n:>13,d} = {n / 1e6:.2f} M   spec {want_m:.2f} M   {'ok' if ok else 'MISMATCH'}")
        if not ok:
            failures.append(f"lora r={r}")

    print("other configs (informational; study-284m without its text cross-attention, which the\n"
          "  spec counts at 281,373,960 with it):")
    for name in ("study-284m", "micro", "test-tiny", "test-tiny-i"):
        c = W.load_config(name)
        print(f"  {name:12s} denoiser {count(c, ('denoiser',)):>13,d}   "
              f"encoder+latent_norm {count(c, ('encoder', 'latent_norm')):>13,d}")

    if failures:
        print("FAIL:", ", ".join(failures))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
