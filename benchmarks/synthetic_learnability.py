"""Is the hard synthetic data learnable from morphology at demo size? A small CNN on held-out patches.

Two tasks, each split by image (no image in both train and test), each with a shuffled-label control:
lesion vs normal patches of the default vindr_synth set (config/config.yaml, its BI-RADS-free ground truth:
patches centred on a finding vs random breast patches of normal images) and benign vs malignant patches of
the CBIS-DDSM stand-in (pathology from its CSVs). Images are rendered at the configured size and resized to
the seed-000 demo canvas (preprocess height/width), patches are the demo's 128 px. Writes
benchmarks/out/synthetic_learnability.json. Run:
OMP_NUM_THREADS=1 PYTHONPATH=lib python benchmarks/synthetic_learnability.py [--difficulty hard|easy]"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from sklearn.metrics import roc_auc_score
from torch import nn

from mammoflow.core.config import schema_defaults
from mammoflow.datasets.synthetic import cbis as cbis_synth, draw, vindr

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
PATCH = 128


def _canvas(img: np.ndarray, boxes: list, h: int, w: int) -> tuple[np.ndarray, list]:
    """Resize to the demo canvas (aspect not kept: the benchmark only needs the scale) and scale the boxes."""
    sy, sx = h / img.shape[0], w / img.shape[1]
    out = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return out, [((x0 + x1) / 2 * sx, (y0 + y1) / 2 * sy) for x0, y0, x1, y1 in boxes]


def _crop(img: np.ndarray, cx: float, cy: float) -> np.ndarray:
    """A PATCH x PATCH crop centred at (cx, cy), zero-padded at the borders."""
    pad = np.pad(img, PATCH)
    x0, y0 = int(round(cx)) + PATCH - PATCH // 2, int(round(cy)) + PATCH - PATCH // 2
    return pad[y0:y0 + PATCH, x0:x0 + PATCH]


def _lesion_patches(img, centres, rng, n_jitter=4):
    """Jittered crops centred on each finding."""
    return [_crop(img, cx + rng.uniform(-16, 16), cy + rng.uniform(-16, 16)) for cx, cy in centres
            for _ in range(n_jitter)]


def _normal_patches(img, breast, rng, n):
    """Random crops lying inside the breast (at least 97 % breast, like the findings' crops)."""
    ys, xs = np.nonzero(breast)
    out = []
    for _ in range(50 * n):
        if len(out) == n or not len(xs):
            break
        k = int(rng.integers(len(xs)))
        p = _crop(img, xs[k], ys[k])
        if (_crop(breast.astype(np.float32), xs[k], ys[k]) > 0).mean() > 0.97:
            out.append(p)
    return out


def lesion_vs_normal(level: str, canvas: tuple[int, int], rng: np.random.Generator):
    """(patches, labels, groups) of the vindr_synth set: finding-centred vs normal-image patches."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    block = cfg["datasets"]["vindr_synth"]["synthetic"]
    spec = vindr.SyntheticSpec.from_config(schema_defaults("synthetic/vindr", **{**block, "inject_bad": False,
                                                                                   "difficulty": level}))
    X, y, g = [], [], []
    for i, (_, r) in enumerate(vindr.vindr_plan(spec).iterrows()):
        rend = vindr.render_row(r, level)
        img, centres = _canvas(rend.image, rend.boxes, *canvas)
        breast = cv2.resize(rend.breast.astype(np.uint8), (canvas[1], canvas[0]), interpolation=cv2.INTER_NEAREST)
        ps = _lesion_patches(img, centres, rng) if centres else _normal_patches(img, breast > 0, rng, 4)
        X += ps
        y += [int(bool(centres))] * len(ps)
        g += [r["study_id"]] * len(ps)
    return np.stack(X), np.array(y), np.array(g)


def benign_vs_malignant(level: str, canvas: tuple[int, int], rng: np.random.Generator, n_patients: int):
    """(patches, labels, groups) of the CBIS-DDSM stand-in: finding-centred patches labelled by pathology."""
    cfg = cbis_synth.CbisSynthConfig.from_config(schema_defaults("synthetic/cbis", difficulty=level,
                                                                  n_patients=n_patients))
    X, y, g = [], [], []
    plan = cbis_synth.plan(cfg)
    for case, rows in plan.groupby("case", sort=True):
        r0 = rows.iloc[0]
        rend = draw.render(r0["plan"])
        img, centres = _canvas(rend.image, rend.boxes, *canvas)
        for (cx, cy), patho in zip(centres, rows.sort_values("abnormality")["pathology"]):
            ps = _lesion_patches(img, [(cx, cy)], rng)
            X += ps
            y += [int(patho == "MALIGNANT")] * len(ps)
            g += [r0["patient_id"]] * len(ps)
    return np.stack(X), np.array(y), np.array(g)


class SmallCNN(nn.Module):
    """Four conv blocks (16-32-64-64) and a linear head: a small patch classifier."""

    def __init__(self) -> None:
        super().__init__()
        layers, c = [], 1
        for k in (16, 32, 64, 64):
            layers += [nn.Conv2d(c, k, 3, padding=1), nn.BatchNorm2d(k), nn.ReLU(), nn.MaxPool2d(2)]
            c = k
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(1)


def fit_auc(X, y, train, test, epochs, seed) -> float:
    """Train the small CNN on X[train] (flips as augmentation, per-patch standardisation); test AUC."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    Xt = torch.from_numpy(X).float().unsqueeze(1)
    Xt = (Xt - Xt.mean((2, 3), keepdim=True)) / (Xt.std((2, 3), keepdim=True) + 1e-3)
    yt = torch.from_numpy(y).float()
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    pos = float(yt[train].mean())
    lossf = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - pos) / max(pos, 1e-3)))
    tr = torch.from_numpy(train)
    for _ in range(epochs):
        model.train()
        for b in tr[torch.randperm(len(tr), generator=gen)].split(32):
            xb = Xt[b]
            if torch.rand(1, generator=gen) < 0.5:
                xb = xb.flip(3)
            if torch.rand(1, generator=gen) < 0.5:
                xb = xb.flip(2)
            opt.zero_grad()
            lossf(model(xb), yt[b]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        s = torch.cat([model(Xt[torch.from_numpy(test)][i:i + 128]) for i in range(0, len(test), 128)])
    return float(roc_auc_score(y[test], s.numpy()))


def evaluate(X, y, g, epochs, seed) -> dict:
    """Group-held-out AUC (25 % of groups in test) and the shuffled-label control on the same split."""
    rng = np.random.default_rng(seed)
    groups = np.unique(g)
    test_groups = set(rng.choice(groups, size=max(1, len(groups) // 4), replace=False))
    test = np.flatnonzero([x in test_groups for x in g])
    train = np.flatnonzero([x not in test_groups for x in g])
    auc = fit_auc(X, y, train, test, epochs, seed)
    y_shuf = y.copy()
    y_shuf[train] = rng.permutation(y[train])
    control = fit_auc(X, y_shuf, train, test, epochs, seed)
    return {"auc": round(auc, 4), "shuffled_label_auc": round(control, 4), "n_train": int(len(train)),
            "n_test": int(len(test)), "positives_test": int(y[test].sum()), "epochs": epochs}


def main() -> int:
    """Both tasks at the requested difficulty; writes benchmarks/out/synthetic_learnability[_easy].json."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--difficulty", default="hard", choices=["hard", "easy"])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--cbis-patients", type=int, default=60)
    ap.add_argument("--tasks", default="lesion_vs_normal,benign_vs_malignant")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    canvas = (int(cfg["preprocess"]["height"]), int(cfg["preprocess"]["width"]))
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    out = {"difficulty": a.difficulty, "canvas": list(canvas), "patch": PATCH}
    tasks = a.tasks.split(",")
    if "lesion_vs_normal" in tasks:
        out["lesion_vs_normal"] = evaluate(*lesion_vs_normal(a.difficulty, canvas, rng), a.epochs, 0)
        print("lesion_vs_normal", out["lesion_vs_normal"], flush=True)
    if "benign_vs_malignant" in tasks:
        out["benign_vs_malignant"] = evaluate(*benign_vs_malignant(a.difficulty, canvas, rng, a.cbis_patients),
                                              a.epochs, 0)
        print("benign_vs_malignant", out["benign_vs_malignant"], flush=True)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    name = "synthetic_learnability" + ("" if a.difficulty == "hard" else "_easy") + (
        "" if len(tasks) == 2 else "_" + tasks[0]) + ".json"
    (OUT / name).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
