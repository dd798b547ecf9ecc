"""Seed 002 benchmark: SR quality figures of a built dataset and CPU inference throughput (model loaded once).

Run after `snakemake superres` (demo config):
    OMP_NUM_THREADS=1 PYTHONPATH=lib python benchmarks/superres_throughput.py --dataset inbreast_synth --threads 1
Writes benchmarks/out/superres_throughput.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mammoflow.io import png
from mammoflow.pipelines.superres.data import PairConfig, degrade
from mammoflow.pipelines.superres.infer import super_resolve
from mammoflow.pipelines.superres.model import load_generator


def main() -> None:
    """Quality figures from metrics.json/fid.json/augment.json and megapixels/s of SRResNet/SRGAN on whole canvases."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="inbreast_synth")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--canvases", type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sr = Path("results") / a.dataset / "superres"
    out: dict = {"dataset": a.dataset, "threads": a.threads}
    for name in ("metrics.json", "gan/fid.json", "gan/augment.json"):
        if (sr / name).is_file():
            out[name] = json.loads((sr / name).read_text())
    images = pd.read_csv(Path("results") / a.dataset / "tables" / "images.csv", dtype={"image_id": str})
    for model in ("srresnet", "srgan"):
        t_load = time.perf_counter()
        g = load_generator(sr / "models" / f"{model}.pth")
        t_load = time.perf_counter() - t_load
        cfg = PairConfig(0, g.scale, "bicubic", 1.0, 1, 0, 0, 0, 1)
        lrs = []
        for p in images["png_path"].head(a.canvases):
            c = png.read(p)
            h, w = (c.shape[0] // g.scale) * g.scale, (c.shape[1] // g.scale) * g.scale
            lrs.append(degrade(c[:h, :w], cfg))
        super_resolve(g, lrs[0][None][:, :32, :32])  # warm-up
        t0 = time.perf_counter()
        mp = 0.0
        for lr in lrs:
            mp += super_resolve(g, lr[None], batch=1).size / 1e6
        dt = time.perf_counter() - t0
        out[f"throughput_{model}"] = {"canvases": len(lrs), "output_megapixels": mp, "seconds": dt,
                                      "megapixels_per_s": mp / dt, "model_load_s": t_load}
    Path("benchmarks/out").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/out/superres_throughput.json").write_text(json.dumps(out, indent=1, default=float))
    print(json.dumps({k: v for k, v in out.items() if k.startswith("throughput")}, indent=1))


if __name__ == "__main__":
    main()
