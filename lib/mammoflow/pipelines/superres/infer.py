"""Batched SR inference (models loaded once), side-by-side figures, metrics.json of bicubic/SRResNet/SRGAN."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from mammoflow.core import rejections  # noqa: E402
from mammoflow.core.config import from_mapping  # noqa: E402
from mammoflow.core.errors import ImageRejected  # noqa: E402
from mammoflow.evaluation.metrics import write_json  # noqa: E402
from mammoflow.io import png  # noqa: E402
from mammoflow.pipelines.superres.data import check_pair, upsample_bicubic  # noqa: E402
from mammoflow.pipelines.superres.evaluate import (EvalConfig, calcification_recall, parse_specks,  # noqa: E402
                                                   psnr_ssim, speck_study)
from mammoflow.pipelines.superres.model import SRResNet, load_generator  # noqa: E402
from mammoflow.training.device import seed_all  # noqa: E402

log = logging.getLogger("mammoflow.superres")
MODELS = ("srresnet", "srgan")
METHODS = ("bicubic", "srresnet", "srgan")


def super_resolve(g: SRResNet, lr: np.ndarray, batch: int = 32) -> np.ndarray:
    """SR of a stack of uint16 LR patches (n, h, w) as uint16 (n, sh, sw)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(lr), batch):
            x = torch.from_numpy(lr[i:i + batch].astype(np.float32) / 65535.0)[:, None]
            out.append(g(x)[:, 0].clamp(0, 1).mul(65535.0).round().numpy().astype(np.uint16))
    return np.concatenate(out) if out else np.zeros((0,), np.uint16)


def _pairs(pairs_csv: str, split: str) -> pd.DataFrame:
    p = pd.read_csv(pairs_csv, dtype={"image_id": str, "pair_id": str})
    return p[p["split"] == split].reset_index(drop=True)


def run_infer(pairs_csv: str, checkpoints: Mapping[str, str], split: str, out_dir: str, rejected_csv: str,
              timing_json: str, scale: int, threads: int) -> dict[str, Any]:
    """Write out_dir/{model}/{pair_id}.png for every pair of a split; a bad pair = a rejection row + 1x1 marker."""
    seed_all(0, threads)
    pairs = _pairs(pairs_csv, split)
    gens = {m: load_generator(checkpoints[m], scale) for m in MODELS}
    ok, lrs, rej = [], [], []
    for r in pairs.itertuples():
        try:
            lr, hr = png.read(r.lr_path, dtype=np.uint16), png.read(r.hr_path, dtype=np.uint16)
            check_pair(hr, lr, scale, r.lr_path)
        except ImageRejected as e:
            rej.append(rejections.row(r.image_id, e.path, "superres_infer", f"{e.path}: {e.reason}"))
            for m in MODELS:
                png.write(f"{out_dir}/{m}/{r.pair_id}.png", np.zeros((1, 1), np.uint16))
            continue
        ok.append(r.pair_id)
        lrs.append(lr)
    timing = {}
    for m, g in gens.items():
        t0 = time.perf_counter()
        sr = super_resolve(g, np.stack(lrs)) if lrs else []
        dt = time.perf_counter() - t0
        mp = sum(a.size for a in sr) / 1e6
        timing[m] = {"seconds": dt, "output_megapixels": mp, "megapixels_per_s": mp / dt if dt else float("nan")}
        for pid, a in zip(ok, sr):
            png.write(f"{out_dir}/{m}/{pid}.png", a)
    rejections.write(rejected_csv, rej)
    write_json(timing_json, {"split": split, "pairs": len(ok), "threads": threads, **timing})
    return timing


def _load(r: Any, sr_dir: str, scale: int) -> dict[str, np.ndarray]:
    hr = png.read(r.hr_path, dtype=np.uint16)
    lr = png.read(r.lr_path, dtype=np.uint16)
    check_pair(hr, lr, scale, r.lr_path)
    out = {"lr": lr, "hr": hr, "mask": png.read(r.mask_path) > 0, "bicubic": upsample_bicubic(lr, scale)}
    for m in MODELS:
        a = png.read(f"{sr_dir}/{m}/{r.pair_id}.png", dtype=np.uint16)
        if a.shape != hr.shape:
            raise ImageRejected(f"{sr_dir}/{m}/{r.pair_id}.png", f"SR shape {a.shape} is not the HR shape {hr.shape}")
        out[m] = a
    return out


def figure(imgs: Mapping[str, np.ndarray], specks: np.ndarray, path: str, title: str) -> None:
    """LR, bicubic, SRResNet, SRGAN, HR side by side, with a zoom on the first calcification speck."""
    names = ("lr", "bicubic", "srresnet", "srgan", "hr")
    hr = imgs["hr"].astype(np.float64)
    lo, hi = np.percentile(hr[imgs["mask"]] if imgs["mask"].any() else hr, [1, 99.8])
    fig, ax = plt.subplots(2, 5, figsize=(12.5, 5.4))
    cx, cy = (specks[0] if len(specks) else (hr.shape[1] / 2, hr.shape[0] / 2))
    z = max(8, hr.shape[0] // 6)
    for j, n in enumerate(names):
        a = imgs[n].astype(np.float64)
        f = 1 if n != "lr" else hr.shape[0] // a.shape[0]
        ax[0, j].imshow(a, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax[0, j].set_title(n.upper() if n in ("lr", "hr") else n)
        x0, y0 = int(max(cx / f - z / f, 0)), int(max(cy / f - z / f, 0))
        crop = a[y0:y0 + int(2 * z / f), x0:x0 + int(2 * z / f)]
        ax[1, j].imshow(crop, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax[1, j].set_title("zoom on speck" if len(specks) else "zoom (centre)", fontsize=8)
    for a in ax.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run_evaluate(pairs_csv: str, sr_dir: str, split: str, metrics_json: str, figure_paths: list[str],
                 eval_cfg: Mapping[str, Any], scale: int) -> dict[str, Any]:
    """metrics.json: PSNR/SSIM inside the breast per method, speck recall at the same FP rate; the figures."""
    cfg = from_mapping(EvalConfig, eval_cfg, "superres.evaluate")
    pairs = _pairs(pairs_csv, split)
    q: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
    imgs: dict[str, list[np.ndarray]] = {m: [] for m in ("hr", *METHODS)}
    specks, masks, fig_rows, bad = [], [], [], []
    for r in pairs.itertuples():
        try:
            d = _load(r, sr_dir, scale)
        except ImageRejected as e:
            bad.append(f"{e.path}: {e.reason}")
            continue
        for m in METHODS:
            q[m].append(psnr_ssim(d["hr"], d[m], d["mask"]))
            imgs[m].append(d[m])
        imgs["hr"].append(d["hr"])
        masks.append(d["mask"])
        sp = parse_specks(r.specks)
        specks.append(sp)
        if len(sp) and len(fig_rows) < len(figure_paths):
            fig_rows.append((r, d, sp))
    studies = {m: speck_study(imgs[m], specks, masks, cfg) for m in imgs}
    n = len(specks)
    out: dict[str, Any] = {"split": split, "scale": scale, "pairs": n, "pairs_with_specks": int(sum(len(s) > 0 for s in specks)),
                           "specks": int(sum(len(s) for s in specks)), "unusable": bad,
                           "quality_inside_breast": {m: {"psnr_db": float(np.mean([a for a, _ in q[m]])),
                                                         "ssim": float(np.mean([b for _, b in q[m]]))}
                                                     for m in METHODS if q[m]},
                           "calcification_recall": {"fp_per_pair": cfg.fp_per_pair,
                                                    **calcification_recall(studies, n, cfg)}}
    qq = out["quality_inside_breast"]
    if "srresnet" in qq:
        out["psnr_gain_db"] = {m: qq[m]["psnr_db"] - qq["bicubic"]["psnr_db"] for m in MODELS}
    write_json(metrics_json, out)
    for path, (r, d, sp) in zip(figure_paths, fig_rows):
        figure(d, sp, path, f"{r.pair_id} (x{scale}, {len(sp)} specks)")
    for path in figure_paths[len(fig_rows):]:
        figure({k: np.zeros((4, 4)) if k != "mask" else np.ones((4, 4), bool) for k in ("lr", "hr", "mask", *METHODS)},
               np.zeros((0, 2)), path, "no test pair with calcification specks for this figure")
    return out
