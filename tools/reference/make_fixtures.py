#!/usr/bin/python3
"""Writes the committed reference fixtures test/fixtures/<config>/ for test-tiny, test-tiny-i and test-wide,
in the layout of ../shared/golden/micro:

  <config>/weights.safetensors          F32, canonical names, all encoder + latent_norm + denoiser tensors
  <config>/cases.json                   {"config", "seed", "t", "cases": {name: {"latent_input", "class"}}}
  <config>/<case>/input.npy             pixels [T,H,W,3] in [0,1], or a normalised latent [T',h,w,c]
  <config>/<case>/noise.npy             eps, latent shape
  <config>/<case>/expected.safetensors  latent (pixel cases), z_t, block.1..block.L, v_pred  (F32)

Weights, inputs and noise are drawn in float32 (seeded), stored, read back, and the expected
tensors are computed in float64 from the stored float32 values.

  /usr/bin/python3 tools/reference/make_fixtures.py [--out test/fixtures] [--seed 20240601]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import walt_ref as W  # noqa: E402

T_STEP = 200
CASES = {
    "test-tiny": {
        "video-pixels": {"latent_input": False, "class": 3},
        "image-pixels": {"latent_input": False, "class": None},
        "video-latent": {"latent_input": True, "class": 7},
    },
    "test-tiny-i": {
        "video-pixels": {"latent_input": False, "class": 3},
        "image-pixels": {"latent_input": False, "class": None},
    },
    "test-wide": {
        "video-pixels": {"latent_input": False, "class": 1},
        "video-latent": {"latent_input": True, "class": None},
    },
}


def smooth_video(rng: np.random.Generator, T: int, H: int, W_: int) -> np.ndarray:
    """A smooth-ish random clip in [0,1]: drifting low-frequency colour waves plus a few moving
    soft blobs, a little pixel noise, squashed by a sigmoid. [T, H, W, 3] float32."""
    y, x = np.meshgrid(np.arange(H) / H, np.arange(W_) / W_, indexing="ij")
    frames = np.zeros((T, H, W_, 3))
    waves = [(rng.uniform(0.5, 3.0, 2) * rng.choice([-1, 1], 2), rng.uniform(0, 2 * np.pi),
              rng.uniform(-0.3, 0.3), rng.normal(0, 1.0, 3)) for _ in range(4)]
    blobs = [(rng.uniform(0.1, 0.9, 2), rng.normal(0, 0.02, 2), rng.uniform(0.06, 0.2), rng.normal(0, 2.0, 3))
             for _ in range(5)]
    for t in range(T):
        img = np.zeros((H, W_, 3))
        for (k, phase, speed, color) in waves:
            img += np.sin(2 * np.pi * (k[0] * y + k[1] * x) + phase + speed * t)[..., None] * color
        for (c0, vel, r, color) in blobs:
            cy, cx = c0 + vel * t
            img += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))[..., None] * color
        img += rng.normal(0, 0.05, img.shape)
        frames[t] = 1.0 / (1.0 + np.exp(-img))
    return frames.astype(np.float32)


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def make(config_name: str, out_root: Path, seed: int):
    cfg = W.load_config(config_name)
    out = out_root / config_name
    out.mkdir(parents=True, exist_ok=True)
    # weights: same weight seed for both configs, so the encoder values are identical
    P32 = W.init_weights(cfg, seed=seed, dtype=torch.float32)
    W.write_safetensors(out / "weights.safetensors", P32,
                        metadata={"config": cfg["name"], "seed": seed, "torch": torch.__version__,
                                  "made_by": "tools/reference/make_fixtures.py"})
    P = W.load_weights(out / "weights.safetensors", cfg, dtype=torch.float64)  # stored values, in f64
    P_f32 = W.load_weights(out / "weights.safetensors", cfg, dtype=torch.float32)

    T, H, Wd = cfg["pixels"]
    Tl, hl, wl = cfg["denoiser"]["latent"]
    c = cfg["encoder"]["latentChannels"]
    # same data seed for every config: test-tiny-i's cases hold the same inputs/noise as test-tiny's
    # (identical bytes; with the identical encoder weights their latents are identical too)
    data_seed = seed + 1
    rng = np.random.default_rng(data_seed)
    cases = CASES[config_name]
    (out / "cases.json").write_text(json.dumps(
        {"config": cfg["name"], "seed": seed, "t": T_STEP, "cases": cases}, indent=1) + "\n")
    print(f"{config_name}: weights {sum(v.numel() for v in P32.values()):,} values, data seed {data_seed}")
    for name, spec in cases.items():
        d = out / name
        d.mkdir(exist_ok=True)
        if spec["latent_input"]:
            x = rng.standard_normal((Tl, hl, wl, c)).astype(np.float32)
            lat_shape = x.shape
        else:
            frames = T if name.startswith("video") else 1
            x = smooth_video(rng, frames, H, Wd)
            lat_shape = (1 + (frames - 1) // 4, hl, wl, c)
        eps = rng.standard_normal(lat_shape).astype(np.float32)
        W.write_npy(d / "input.npy", x)
        W.write_npy(d / "noise.npy", eps)
        xin = torch.from_numpy(W.read_npy(d / "input.npy").astype(np.float64))
        ein = torch.from_numpy(W.read_npy(d / "noise.npy").astype(np.float64))
        with torch.no_grad():
            res = W.forward(P, cfg, xin, T_STEP, ein, spec["class"], latent_input=spec["latent_input"])
            res32 = W.forward(P_f32, cfg, xin.float(), T_STEP, ein.float(), spec["class"],
                              latent_input=spec["latent_input"])
        W.write_safetensors(d / "expected.safetensors", res,
                            metadata={"config": cfg["name"], "case": name, "t": T_STEP,
                                      "class": spec["class"], "computed": "float64"})
        stats = "  ".join(f"{k} std {float(v.std()):.3g}" for k, v in res.items())
        worst32 = max(rel(res32[k].double(), res[k]) for k in res)
        print(f"  {name}: input {tuple(x.shape)} class {spec['class']}; f32-vs-f64 worst rel {worst32:.1e}")
        print(f"    {stats}")
        if name == "video-pixels":
            # §3.6: with per-frame GN a 1-frame input reproduces latent 0 of the video
            with torch.no_grad():
                z_img = W.encode(xin[:1], P, cfg)
            d0 = float((z_img[0] - res["latent"][0]).abs().max())
            print(f"    first-frame independence: |encode(frame0) - latent[0]| max {d0:.1e}")
            assert d0 < 1e-12


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(W.REPO_ROOT / "test" / "fixtures"))
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--configs", nargs="*", default=list(CASES))
    a = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    for name in a.configs:
        make(name, Path(a.out), a.seed)


if __name__ == "__main__":
    main()
