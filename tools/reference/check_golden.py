#!/usr/bin/python3
"""Runs walt_ref on a golden folder (default ../shared/golden/micro with config micro) and prints
max|a-b|/max|b| per tensor and case. Exit 1 if any exceeds --tol (1e-4).

  /usr/bin/python3 tools/reference/check_golden.py [--golden DIR] [--config micro] [--dtype float64]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import walt_ref as W  # noqa: E402


def check(golden: Path, config: str, dtype: str, tol: float) -> bool:
    cfg = W.load_config(config)
    dt = W.DTYPES[dtype]
    P = W.load_weights(golden / "weights.safetensors", cfg, dtype=dt)  # strict: names + shapes
    cases = json.loads((golden / "cases.json").read_text())
    t = int(cases.get("t", 200))
    ok = True
    print(f"golden {golden}  config {cfg['name']}  dtype {dtype}  t {t}  (max|a-b| / max|b|)")
    for name, spec in cases["cases"].items():
        d = golden / name
        inp = torch.from_numpy(W.read_npy(d / "input.npy").astype(np.float64)).to(dt)
        eps = torch.from_numpy(W.read_npy(d / "noise.npy").astype(np.float64)).to(dt)
        expected = W.read_safetensors(d / "expected.safetensors")
        with torch.no_grad():
            out = W.forward(P, cfg, inp, t, eps, spec["class"], latent_input=spec["latent_input"])
        if set(out) != set(expected):
            print(f"  {name}: tensor sets differ: ours {sorted(out)} expected {sorted(expected)}")
            ok = False
        cols = []
        for k in out:
            if k not in expected:
                continue
            a = out[k].double().numpy()
            b = expected[k].astype(np.float64)
            if a.shape != b.shape:
                cols.append(f"{k} SHAPE {a.shape} vs {b.shape}")
                ok = False
                continue
            rel = float(np.abs(a - b).max() / np.abs(b).max())
            ok &= rel <= tol
            cols.append(f"{k} {rel:.2e}")
        print(f"  {name:13s} class={str(spec['class']):4s} " + "  ".join(cols))
    print("PASS" if ok else f"FAIL (tolerance {tol:g})")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", default=str(W.REPO_ROOT.parent / "shared" / "golden" / "micro"))
    ap.add_argument("--config", default="micro")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    sys.exit(0 if check(Path(a.golden), a.config, a.dtype, a.tol) else 1)


if __name__ == "__main__":
    main()
