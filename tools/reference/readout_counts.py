#!/usr/bin/python3
"""Recomputes the ten built-in readout heads' parameter counts (WALT_SPEC §7, feature width
C = 1024) from their configs, asserts them, and writes test/fixtures/readout/builtin-heads.json:
{name: {"config": head JSON, "params": N, "weights": [[name, shape], …]}} (canonical order).

  /usr/bin/python3 tools/reference/readout_counts.py [--no-write]
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import readout_ref as R  # noqa: E402

EXPECTED = {
    "imagenet": 7_678_184,
    "places365": 7_189_869,
    "inat2018": 13_170_382,
    "ssv2": 7_042_990,
    "k400": 11_975_056,
    "k700": 12_282_556,
    "camera-pose": 1_650_444,
    "depth": 3_284_353,
    "points": 12_897_668,
    "boxes": 12_931_462,
}

OUT = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "readout" / "builtin-heads.json"


def check(verbose=True) -> dict:
    table = {}
    assert set(R.BUILTIN) == set(EXPECTED)
    for name, want in EXPECTED.items():
        cfg = R.validate_config(dict(R.BUILTIN[name]), name)
        got = R.param_count(cfg)
        assert got == want, f"{name}: {got:,} != {want:,}"
        table[name] = {"config": cfg, "params": got, "weights": [[n, list(s)] for n, s in R.weight_shapes(cfg)]}
        if verbose:
            print(f"{name:12s} {got:>12,}  ok ({len(table[name]['weights'])} tensors)")
    # the boxes − points difference the spec explains: 64 Fourier dims × 512 + 2 × 513 output units
    assert EXPECTED["boxes"] - EXPECTED["points"] == 64 * 512 + 2 * 513
    return table


def main():
    table = check()
    if "--no-write" not in sys.argv:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        tmp = OUT.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(table, indent=1) + "\n")
        tmp.replace(OUT)
        print(f"wrote {OUT.relative_to(OUT.parents[3])}")
    print("PASS")


if __name__ == "__main__":
    main()
