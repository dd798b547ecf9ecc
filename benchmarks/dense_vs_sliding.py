"""Dense (one fully-convolutional pass) vs sliding-window heatmaps: speed and agreement, measured in one run.

Default: a synthetic 1152 x 896 mammogram canvas, the default tiled ResNet-50 with Gaussian window pooling
(`--pooling mean`; `--plain`: the plain ResNet) with random weights (or --checkpoint, a trained patch
classifier), 224 px windows at stride 32 (30 x 22 = 660 windows), CPU. Writes benchmarks/out/*.json.

    .venv/bin/python benchmarks/dense_vs_sliding.py [--threads 2] [--max-windows N] [--plain] [--checkpoint best.pt]

--max-windows N times the sliding method on the first N windows only and extrapolates linearly (stated in
the JSON); the correlation is then computed on those windows.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mammoflow.pipelines.nus import heatmap
from mammoflow.pipelines.nus.windows import WindowGrid
from mammoflow.pipelines.nus.patch_model import TiledResNet, build_model


def synthetic_canvas(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A breast-like canvas in [0, 1] (half ellipse, smooth texture, two bright lesions, zero background)."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((yy - h / 2) / (0.45 * h)) ** 2 + (xx / (0.8 * w)) ** 2)
    breast = r <= 1
    tex = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 6)
    img = np.where(breast, 0.35 + 0.15 * (1 - r) + 0.3 * tex / (tex.std() + 1e-8) * 0.1, 0)
    for cy, cx, rad in ((0.35 * h, 0.3 * w, 30), (0.62 * h, 0.5 * w, 18)):
        img = np.where(breast, img + 0.35 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (rad * rad) * 1.5), img)
    return np.clip(img, 0, 1).astype(np.float32)


@torch.no_grad()
def logit_maps(model, x, patch, stride, max_windows, batch):
    """Sliding log-odds of the first max_windows windows (row-major) and the time taken."""
    geo = WindowGrid.for_canvas(x.shape[2], x.shape[3], patch, stride)
    pos = [(i * stride, j * stride) for i in range(geo.rows) for j in range(geo.cols)][:max_windows]
    t0 = time.perf_counter()
    out = []
    for s in range(0, len(pos), batch):
        crops = torch.cat([x[:, :, y:y + patch, xx:xx + patch] for y, xx in pos[s:s + batch]])
        out.append(model(crops).double())
    t = time.perf_counter() - t0
    lo = torch.cat(out)
    return (lo[:, 1] - lo[:, 0]).numpy(), t, geo


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=1152)
    ap.add_argument("--width", type=int, default=896)
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--patch", type=int, default=224)
    ap.add_argument("--plain", action="store_true", help="plain ResNet (patch_classifier.tiled: false)")
    ap.add_argument("--pooling", default="gaussian", choices=["gaussian", "mean"], help="window pooling of the tiled model")
    ap.add_argument("--checkpoint", default=None, help="a trained patch classifier instead of random weights")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-windows", type=int, default=0, help="0 = all windows")
    ap.add_argument("--dense-repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "dense_vs_sliding.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.checkpoint:
        model, meta = heatmap.load_patch_model(a.checkpoint)
        arch, patch, norm = meta["arch"], int(meta["patch_size"]), meta["norm"]
    else:
        model = build_model(a.arch, "none", not a.plain, a.pooling).eval()
        arch, patch, norm = a.arch, a.patch, {"mean": 0.3, "std": 0.2}
    x = heatmap.to_input(synthetic_canvas(a.height, a.width), norm["mean"], norm["std"])
    head = heatmap.DenseHead(model, patch).eval()
    with torch.no_grad():
        head(x[:, :, :256, :256])  # warm-up (allocator, kernels)
        model(x[:, :, :patch, :patch])
        times = []
        for _ in range(a.dense_repeats):
            t0 = time.perf_counter()
            dl = head(x)[0].double()
            times.append(time.perf_counter() - t0)
    geo = WindowGrid.for_canvas(a.height, a.width, patch, heatmap.NET_STRIDE)
    n_all = geo.rows * geo.cols
    n = min(a.max_windows or n_all, n_all)
    dense_lo = (dl[1] - dl[0])[:geo.rows, :geo.cols].numpy().ravel()[:n]
    slide_lo, t_slide, _ = logit_maps(model, x, patch, heatmap.NET_STRIDE, n, a.batch)
    t_dense = float(np.median(times))
    t_slide_full = t_slide * n_all / n
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    res = {
        "image": [a.height, a.width], "arch": arch, "tiled": isinstance(model, TiledResNet),
        "pooling": getattr(model, "pooling", "mean"), "weights": a.checkpoint or "random (torch seed 0)",
        "patch_size": patch, "stride": heatmap.NET_STRIDE, "windows": n_all, "windows_timed_sliding": n,
        "sliding_extrapolated": n < n_all, "threads": a.threads, "device": "cpu",
        "dense_seconds": round(t_dense, 4), "dense_seconds_all": [round(t, 4) for t in times],
        "sliding_seconds": round(t_slide_full, 3), "sliding_seconds_measured": round(t_slide, 3),
        "speedup": round(t_slide_full / t_dense, 2),
        "correlation_prob": round(heatmap.correlation(sig(dense_lo), sig(slide_lo)), 5),
        "correlation_logodds": round(heatmap.correlation(dense_lo, slide_lo), 5),
        "max_abs_prob_difference": round(float(np.abs(sig(dense_lo) - sig(slide_lo)).max()), 5),
        "python": sys.version.split()[0], "torch": torch.__version__, "machine": platform.machine(),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"dense {t_dense:.3f} s, sliding {t_slide_full:.2f} s"
          f"{' (extrapolated from %d windows)' % n if n < n_all else ''}: {res['speedup']}x faster; "
          f"correlation prob {res['correlation_prob']}, log-odds {res['correlation_logodds']}")
    return res


if __name__ == "__main__":
    main()
