"""Weakly supervised GLAM training (global, local, joint), inference, predictions, figures and metrics."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mammoflow.core.determinism import stable_hash
from mammoflow.core.errors import ConfigError
from mammoflow.pipelines.glam.model import GLAM, GlamConfig, GlamOutput, build_glam
from mammoflow.pipelines.glam.plan import (  # noqa: F401  (re-exported)
    DEFAULT_TRAIN, OUTPUT_KEYS, VIEWS, dataset_splits, exam_split, figure_ids, synthetic_masks, train_config,
    training_keys,
)
from mammoflow.evaluation.metrics import roc_auc
from mammoflow.training.torchutil import load_checkpoint, save_atomic, seed_all

log = logging.getLogger("mammoflow.pipelines.glam.train")

CLASSES = ("benign", "malignant")
STAGES = ("global", "local", "joint")


# ---------------------------------------------------------------- data
@dataclass
class GlamImage:
    """One standardised model-input window with its image-level labels and lesion masks (window coords).

    The window is either held (`window=`) or read on demand by `loader` (cached when `cache` is set), so a large
    dataset never has to sit in memory as float windows."""

    image_id: str
    exam_index: int
    view: str
    window_array: np.ndarray | None        # (H, W) float32, standardised; None = use loader
    benign: int
    malignant: int
    masks: dict[str, np.ndarray] = field(default_factory=dict)   # class -> bool (H, W)
    split: str = "training"
    loader: Callable[[], np.ndarray] | None = None
    cache: bool = True

    @property
    def window(self) -> np.ndarray:
        """The standardised window (loaded on first use)."""
        if self.window_array is not None:
            return self.window_array
        if self.loader is None:
            raise ValueError(f"{self.image_id}: no window and no loader")
        win = self.loader()
        if self.cache:
            self.window_array = win
        return win

    @property
    def labels(self) -> tuple[int, int]:
        """(benign, malignant) image labels."""
        return int(self.benign), int(self.malignant)


def image_labels(cancer_label: Mapping[str, Any], view: str) -> tuple[int, int]:
    """(benign, malignant) of one image from the exam's cancer_label and the view's side."""
    side = "left" if view.startswith("L") else "right"
    return int(cancer_label.get(f"{side}_benign", 0) or 0), int(cancer_label.get(f"{side}_malignant", 0) or 0)




def _read_window(path: Path, view: str, center: Sequence[int], window: Sequence[int], flip: str) -> np.ndarray:
    from mammoflow.pipelines.glam.centers import extract_window
    from mammoflow.preprocess.canvas import read_png
    win, _ = extract_window(read_png(path), view, center, window, flip)
    return np.ascontiguousarray(win, dtype=np.float32)


def load_exam_images(data_pkl: str | Path, cropped_dir: str | Path, seg_dir: str | Path | None,
                     window: Sequence[int], splits: Sequence[str], cache_mb: float = 512.0
                     ) -> tuple[list[GlamImage], list[dict[str, str]]]:
    """Model inputs of every image of a data.pkl (best_center known), in exam order, plus rejection rows.

    Windows and masks follow the original's test-time extraction (optimal_centers.extract_window /
    mask_to_window); masks are read from seg_dir/<name>.png (names from '<view>_<class>_seg', default
    '<image_id>_<class>'), missing files meaning 'no annotation'. A failing image becomes a rejection row."""
    from mammoflow.datasets.nyu import load_exam_list
    from mammoflow.pipelines.glam.centers import mask_to_window
    from mammoflow.preprocess.canvas import read_png
    exams = load_exam_list(data_pkl)
    if len(splits) != len(exams):
        raise ConfigError(f"{data_pkl}: {len(exams)} exams but {len(splits)} splits")
    cropped_dir = Path(cropped_dir)
    n_img = sum(len(e.get(v, [])) for e in exams for v in VIEWS)
    cache = n_img * window[0] * window[1] * 4 <= cache_mb * 2 ** 20
    images: list[GlamImage] = []
    rejected: list[dict[str, str]] = []
    for k, exam in enumerate(exams):
        flip = exam.get("horizontal_flip", "NO")
        for view in VIEWS:
            for j, image_id in enumerate(exam.get(view, [])):
                src = cropped_dir / f"{image_id}.png"
                try:
                    center = exam["best_center"][view][j]
                    wl = exam["window_location"][view][j]
                    if "cancer_label" not in exam:
                        raise ValueError("exam has no cancer_label; GLAM training needs image labels")
                    benign, malignant = image_labels(exam["cancer_label"], view)
                    win = _read_window(src, view, center, window, flip)
                    masks = {}
                    for c in CLASSES:
                        names = exam.get(f"{view}_{c}_seg") or [f"{image_id}_{c}"]
                        name = names[j] if j < len(names) else f"{image_id}_{c}"
                        mp = Path(seg_dir) / f"{name}.png" if seg_dir else None
                        if mp is not None and mp.is_file():
                            m = mask_to_window(read_png(mp), wl, view, center, window, flip) > 0
                            if m.any():
                                masks[c] = m
                    loader = (lambda s=src, v=view, c=center, f=flip: _read_window(s, v, c, window, f))
                    images.append(GlamImage(image_id, k, view, win if cache else None, benign, malignant, masks,
                                            splits[k], loader=loader, cache=cache))
                except Exception as exc:  # noqa: BLE001 - one bad image never stops the batch
                    log.warning("rejected %s: %s", src, exc)
                    rejected.append({"image_id": image_id, "source_path": str(src), "stage": "glam_model",
                                     "reason": f"{src}: cannot build the model input: {exc}"})
    return images, rejected


# ---------------------------------------------------------------- training configuration
def fingerprint(model_cfg: GlamConfig, tcfg: Mapping[str, Any], ids: Sequence[str], seed: int) -> str:
    """Digest of everything a training run depends on (a resume only continues a matching run)."""
    blob = json.dumps({"m": model_cfg.to_dict(), "t": {k: v for k, v in tcfg.items() if k not in OUTPUT_KEYS},
                       "ids": list(ids), "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- augmentation
def augment_window(win: np.ndarray, rng: np.random.Generator, aug: Mapping[str, Any]) -> np.ndarray:
    """Random shift (crop noise), zoom (size noise), vertical flip (fill = min) and intensity jitter of a window.

    The intensity jitter (x * exp(u) + v, u, v uniform in +-intensity_noise) keeps the model from reading the
    label off the window's global statistics (a bright lesion shifts the per-window standardisation)."""
    H, W = win.shape
    cn, sn = float(aug.get("crop_noise", 0)), float(aug.get("size_noise", 0))
    ty, tx = rng.uniform(-cn, cn, size=2) * 2.0          # normalised [-1, 1] coordinates
    scale = 1.0 + rng.uniform(-sn, sn)
    flip = bool(aug.get("vertical_flip", False)) and rng.random() < 0.5
    out = win
    if cn != 0 or sn != 0 or flip:
        lo = float(win.min())
        theta = torch.tensor([[[1.0 / scale, 0.0, tx], [0.0, (-1.0 if flip else 1.0) / scale, ty]]],
                             dtype=torch.float32)
        t = torch.from_numpy(np.ascontiguousarray(win - lo, dtype=np.float32))[None, None]
        grid = F.affine_grid(theta, [1, 1, H, W], align_corners=False)
        out = F.grid_sample(t, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0, 0].numpy() + lo
    inoise = float(aug.get("intensity_noise", 0))
    if inoise > 0:
        a, b = np.exp(rng.uniform(-inoise, inoise)), rng.uniform(-inoise, inoise)
        out = (out * np.float32(a) + np.float32(b)).astype(np.float32)
    return out


def _batch(images: Sequence[GlamImage], rngs: Sequence[np.random.Generator] | None,
           aug: Mapping[str, Any] | None) -> tuple[torch.Tensor, torch.Tensor]:
    wins = []
    for i, im in enumerate(images):
        w = im.window.astype(np.float32, copy=False)
        if rngs is not None and aug is not None:
            w = augment_window(w, rngs[i], aug)
        wins.append(w)
    x = torch.from_numpy(np.stack(wins))[:, None]
    y = torch.tensor([im.labels for im in images], dtype=torch.float32)
    return x, y


def _bce(pred: torch.Tensor, target: torch.Tensor, pos_weight: torch.Tensor | None) -> torch.Tensor:
    p = pred.clamp(1e-6, 1 - 1e-6)
    loss = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))
    if pos_weight is not None:
        loss = loss * (1 + (pos_weight - 1) * target)
    return loss.mean()


def _pos_weight(images: Sequence[GlamImage], mode: str) -> torch.Tensor | None:
    if mode == "none":
        return None
    y = np.array([im.labels for im in images], dtype=float)
    pos = y.sum(0)
    neg = len(y) - pos
    return torch.tensor(np.clip(neg / np.maximum(pos, 1), 1.0, 10.0), dtype=torch.float32)


# ---------------------------------------------------------------- stage steps
def _set_stage_modes(model: GLAM, stage: str, train: bool) -> list[torch.nn.Parameter]:
    """Train/eval modes and the parameters optimised in a stage."""
    model.eval()
    if not train:
        return []
    if stage == "global":
        model.global_module.train()
        return list(model.global_module.parameters())
    if stage == "local":
        model.local_module.train()
        return list(model.local_module.parameters())
    model.train()
    return list(model.parameters())


def _stage_loss(model: GLAM, stage: str, x: torch.Tensor, y: torch.Tensor,
                pw: torch.Tensor | None) -> torch.Tensor:
    if stage == "global":
        y_global, _ = model.global_module(x)
        return _bce(y_global, y, pw)
    if stage == "local":
        with torch.no_grad():
            out = model(x, with_local=False)
        crops = out.crops.reshape(-1, 1, *model.cfg.crop_shape)
        scores, _ = model.local_module(crops)
        K = out.crops.shape[1]
        return _bce(scores, y.repeat_interleave(K, dim=0), pw)
    out = model(x)
    return _bce(out.y_global, y, pw) + _bce(out.y_local, y, pw)


def image_scores(out: GlamOutput, mode: str) -> torch.Tensor:
    """(benign, malignant) scores: the global ones (the original's output) or global and local averaged."""
    return out.y_global if mode == "global" else (out.y_global + out.y_local) / 2


@torch.no_grad()
def evaluate(model: GLAM, images: Sequence[GlamImage], stage: str, batch_size: int,
             device: torch.device | None = None) -> dict[str, float]:
    """Benign and malignant AUC of a stage's scores on a set of images."""
    if not images:
        return {}
    model.eval()
    scores, labels = [], []
    for i in range(0, len(images), batch_size):
        x, y = _batch(images[i:i + batch_size], None, None)
        x = x.to(device or torch.device("cpu"))
        if stage == "global":
            s = model.global_module(x)[0]
        else:
            out = model(x)
            s = out.y_local if stage == "local" else (out.y_global + out.y_local) / 2
        scores.append(s.cpu().numpy())
        labels.append(y.numpy())
    s, y = np.concatenate(scores), np.concatenate(labels)
    return {f"{c}_auc": roc_auc(y[:, j], s[:, j]) for j, c in enumerate(CLASSES)}


# ---------------------------------------------------------------- training driver
def train_glam(train_images: Sequence[GlamImage], val_images: Sequence[GlamImage], model_cfg: GlamConfig,
               tcfg: Mapping[str, Any], state_dir: str | Path, seed: int, threads: int = 1,
               tb_dir: str | Path | None = None, interrupt_after: int | None = None,
               device: torch.device | None = None, code: str = "") -> tuple[GLAM, list[dict]]:
    """Three-stage weakly supervised training with per-stage checkpoints and resume from state_dir/last.pt.

    `interrupt_after` stops (raising KeyboardInterrupt) after that many epochs of this call: used by the
    resume test to simulate a killed job. All randomness is derived from (seed, stage, epoch, image id), so
    a resumed run ends with exactly the weights of an uninterrupted one.
    """
    tcfg = train_config(tcfg)
    seed_all(seed, threads)
    dev = device or torch.device("cpu")
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    fp = fingerprint(model_cfg, tcfg, [im.image_id for im in train_images], seed + 0) + code
    model = build_glam(model_cfg, tcfg["pretrained_global"], tcfg["pretrained_local"]).to(dev)
    history: list[dict] = []
    start_stage, start_epoch, opt_state = 0, 0, None
    last = state_dir / "last.pt"
    if last.is_file():
        ck = load_checkpoint(last)
        if ck.get("fingerprint") == fp:
            model.load_state_dict(ck["model"])
            start_stage, start_epoch, opt_state = int(ck["stage"]), int(ck["epoch"]), ck.get("optimizer")
            history = list(ck.get("history", []))
            log.info("resuming from %s: stage %s epoch %d", last, STAGES[min(start_stage, 2)], start_epoch)
        else:
            log.warning("ignoring %s: it belongs to a different configuration or data", last)
    writer = None
    if tb_dir is not None:
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(tb_dir))
        except ImportError:  # pragma: no cover - tensorboard is a pinned dependency
            log.warning("tensorboard not available; no event logs")
    pw = _pos_weight(train_images, tcfg["pos_weight"])
    pw = pw.to(dev) if pw is not None else None
    bs = int(tcfg["batch_size"])
    done_this_call = 0
    for si in range(start_stage, 3):
        stage, n_epochs = STAGES[si], int(tcfg["epochs"][si])
        params = _set_stage_modes(model, stage, True)
        opt = torch.optim.Adam(params, lr=float(tcfg["lr"][si]), weight_decay=float(tcfg["weight_decay"]))
        first = start_epoch if si == start_stage else 0
        if si == start_stage and opt_state is not None and first > 0:
            opt.load_state_dict(opt_state)
        for ep in range(first, n_epochs):
            _set_stage_modes(model, stage, True)
            order = np.random.default_rng([seed, si, ep]).permutation(len(train_images))
            total, n = 0.0, 0
            for b in range(0, len(order), bs):
                idx = order[b:b + bs]
                if len(idx) < 2 and stage != "local":   # BatchNorm needs more than one sample
                    continue
                batch = [train_images[i] for i in idx]
                rngs = [np.random.default_rng([seed, si, ep, stable_hash(im.image_id) % (2**32)]) for im in batch]
                x, y = _batch(batch, rngs, tcfg["augment"])
                x, y = x.to(dev), y.to(dev)
                loss = _stage_loss(model, stage, x, y, pw)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if float(tcfg["grad_clip"]) > 0:
                    torch.nn.utils.clip_grad_norm_(params, float(tcfg["grad_clip"]))
                opt.step()
                total += float(loss.detach()) * len(idx)
                n += len(idx)
            row = {"stage": stage, "epoch": ep + 1, "train_loss": round(total / max(n, 1), 6)}
            row.update({f"val_{k}": (None if math.isnan(v) else round(v, 6))
                        for k, v in evaluate(model, val_images, stage, bs, dev).items()})
            history.append(row)
            log.info("stage %s epoch %d: %s", stage, ep + 1, row)
            if writer is not None:
                step = sum(int(e) for e in tcfg["epochs"][:si]) + ep + 1
                for k, v in row.items():
                    if isinstance(v, float):
                        writer.add_scalar(f"{stage}/{k}", v, step)
            last_epoch = ep + 1 == n_epochs
            if last_epoch:   # the stage checkpoint first, so a resumed run never lacks it
                save_atomic({"model": model.state_dict(), "model_config": model_cfg.to_dict(), "stage": stage,
                             "history": history}, state_dir / f"stage{si + 1}_{stage}.pt")
            save_atomic({"fingerprint": fp, "stage": si + 1 if last_epoch else si,
                         "epoch": 0 if last_epoch else ep + 1, "model": model.state_dict(),
                         "optimizer": None if last_epoch else opt.state_dict(),
                         "history": history, "model_config": model_cfg.to_dict()}, last)
            done_this_call += 1
            if interrupt_after is not None and done_this_call >= interrupt_after:
                if writer is not None:
                    writer.close()
                raise KeyboardInterrupt(f"interrupted after {done_this_call} epochs (test hook)")
        if n_epochs == 0:
            save_atomic({"model": model.state_dict(), "model_config": model_cfg.to_dict(), "stage": stage,
                         "history": history}, state_dir / f"stage{si + 1}_{stage}.pt")
    if writer is not None:
        writer.close()
    model.eval()
    return model, history


def load_glam(path: str | Path) -> GLAM:
    """A GLAM model from a mammoflow checkpoint (weights_only)."""
    ck = load_checkpoint(path)
    model = GLAM(GlamConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model"])
    return model.eval()


# ---------------------------------------------------------------- inference and outputs
@dataclass
class GlamResult:
    """Inference result of one image (maps in window coordinates)."""

    image: GlamImage
    scores: np.ndarray           # (2,) benign, malignant
    fused: np.ndarray            # (2, H, W) float32
    global_map: np.ndarray       # (2, h, w)
    positions: np.ndarray        # (K, 2)
    crops: np.ndarray            # (K, ch, cw)
    y_global: np.ndarray | None = None   # (2,) global module scores
    y_local: np.ndarray | None = None    # (2,) mean patch scores


@torch.no_grad()
def infer(model: GLAM, images: Iterable[GlamImage], score: str = "global", batch_size: int = 2,
          device: torch.device | None = None) -> Iterable[GlamResult]:
    """Run the model on images in batches (loaded once), yielding per-image results."""
    model.eval()
    dev = device or torch.device("cpu")
    model.to(dev)
    batch: list[GlamImage] = []

    def flush(b: list[GlamImage]):
        x, _ = _batch(b, None, None)
        out = model(x.to(dev))
        fused = model.fused_saliency(out).cpu().numpy()
        sc = image_scores(out, score).cpu().numpy()
        yg, yl = out.y_global.cpu().numpy(), out.y_local.cpu().numpy()
        for i, im in enumerate(b):
            yield GlamResult(im, sc[i], fused[i], out.global_saliency[i].cpu().numpy(),
                             out.positions[i].cpu().numpy(), out.crops[i, :, 0].cpu().numpy(), yg[i], yl[i])

    for im in images:
        batch.append(im)
        if len(batch) == batch_size:
            yield from flush(batch)
            batch = []
    if batch:
        yield from flush(batch)


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1.0 when both are empty)."""
    p, t = pred.astype(bool), truth.astype(bool)
    s = p.sum() + t.sum()
    return 1.0 if s == 0 else float(2.0 * (p & t).sum() / s)


def saliency_rows(res: GlamResult, threshold: float) -> list[dict]:
    """Per image and lesion class: Dice of the thresholded fused map and of the uniform (whole breast) map."""
    rows = []
    im = res.image
    breast = im.window > im.window.min()
    for j, c in enumerate(CLASSES):
        m = im.masks.get(c)
        if m is None or not m.any():
            continue
        rows.append({"image_index": im.image_id, "split": im.split, "lesion_class": c,
                     "lesion_pixels": int(m.sum()),
                     "dice": round(dice(res.fused[j] >= threshold, m), 6),
                     "dice_uniform": round(dice(breast, m), 6),
                     "dice_top1pct": round(dice(res.fused[j] >= np.quantile(res.fused[j], 0.99), m), 6)})
    return rows


def write_predictions(results: Sequence[GlamResult], path: str | Path) -> None:
    """predictions.csv with the original's columns and 4 decimals, rows in exam order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["image_index", "benign_pred", "malignant_pred", "benign_label", "malignant_label"])
        for r in results:
            w.writerow([r.image.image_id, f"{r.scores[0]:.4f}", f"{r.scores[1]:.4f}",
                        r.image.benign, r.image.malignant])


def compute_metrics(predictions_csv: str | Path, saliency_csv: str | Path, splits: Mapping[str, str],
                    threshold: float) -> dict[str, Any]:
    """metrics.json content: test AUCs and saliency Dice (fused map vs uniform baseline) on test images."""
    import pandas as pd
    pred = pd.read_csv(predictions_csv)
    pred["split"] = pred["image_index"].map(splits)
    test = pred[pred["split"] == "test"]
    sal = pd.read_csv(saliency_csv) if os.path.getsize(saliency_csv) > 0 else pd.DataFrame()
    st = sal[sal["split"] == "test"] if len(sal) else sal
    out: dict[str, Any] = {
        "n_test_images": int(len(test)),
        "n_test_malignant": int(test["malignant_label"].sum()), "n_test_benign": int(test["benign_label"].sum()),
        "malignant_auc": _r(roc_auc(test["malignant_label"], test["malignant_pred"])),
        "benign_auc": _r(roc_auc(test["benign_label"], test["benign_pred"])),
        "dice_threshold_rule": f"fused saliency map of the lesion's class >= {threshold} (fixed), window "
                               f"coordinates, test images with a lesion mask; baseline: uniform map over the "
                               f"whole breast (every window pixel above the background)",
    }
    for c in ("all",) + CLASSES:
        part = st if c == "all" or not len(st) else st[st["lesion_class"] == c]
        key = "" if c == "all" else f"{c}_"
        out[f"{key}dice"] = _r(part["dice"].mean()) if len(part) else None
        out[f"{key}dice_uniform"] = _r(part["dice_uniform"].mean()) if len(part) else None
        out[f"{key}dice_top1pct"] = _r(part["dice_top1pct"].mean()) if len(part) else None
        out[f"n_{key}lesions"] = int(len(part))
    return out


def _r(v: float) -> float | None:
    v = float(v)
    return None if math.isnan(v) else round(v, 4)


# ---------------------------------------------------------------- visualisation
def visualize(res: GlamResult, path: str | Path, crop_shape: Sequence[int]) -> None:
    """The original's five panels: image with ground truth, patch map, benign and malignant saliency, patches."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    im = res.image
    K = len(res.positions)
    fig, axes = plt.subplots(1, 4 + K, figsize=(3 * (4 + K), 4.5), dpi=60)
    kw = dict(cmap="gray", interpolation="nearest")
    ax = axes[0]
    ax.imshow(im.window, **kw)
    for c, col in (("benign", "green"), ("malignant", "red")):
        m = im.masks.get(c)
        if m is not None and m.any():
            ax.contour(m.astype(float), levels=[0.5], colors=col, linewidths=1.2)
    ax.set_title(f"{im.image_id}\nB {im.benign} M {im.malignant}")
    ax = axes[1]
    ax.imshow(im.window, **kw)
    h, w = res.global_map.shape[-2:]
    ax.imshow(res.global_map.sum(0), cmap="jet", alpha=0.35, extent=(0, im.window.shape[1], im.window.shape[0], 0))
    for (top, left) in res.positions:
        ax.add_patch(Rectangle((left, top), crop_shape[1], crop_shape[0], fill=False, edgecolor="blue", lw=1.5))
    ax.set_title("patch map")
    for j, c in enumerate(CLASSES):
        ax = axes[2 + j]
        ax.imshow(im.window, **kw)
        ax.imshow(res.fused[j], cmap="magma", alpha=0.5, vmin=0, vmax=1)
        ax.set_title(f"{c} saliency\nscore {res.scores[j]:.3f}")
    for k in range(K):
        axes[4 + k].imshow(res.crops[k], **kw)
        axes[4 + k].set_title(f"patch {k + 1}")
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def visualize_rejected(image_id: str, reason: str, path: str | Path) -> None:
    """A figure stating why an image has no GLAM output (keeps every listed figure a real file)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(6, 2), dpi=60)
    fig.text(0.02, 0.5, f"{image_id}: no GLAM output\n{reason}", va="center", wrap=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


# ---------------------------------------------------------------- Snakemake entry points
def model_config(model: Mapping[str, Any] | None, window: Sequence[int]) -> GlamConfig:
    """GlamConfig from glam.model with the window of glam.window (the one the centres were computed for)."""
    d = dict(model or {})
    d = {k: v for k, v in d.items() if k not in ("threads", "mem_mb", "runtime")}
    if "window" in d and list(d["window"]) != list(window):
        raise ConfigError(f"glam.model.window {d['window']} differs from glam.window {list(window)}")
    d["window"] = list(window)
    return GlamConfig.from_dict(d)


def _write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in columns})


def _splits_for(data_pkl: str | Path, tcfg: Mapping[str, Any], seed: int) -> list[str]:
    from mammoflow.datasets.nyu import load_exam_list
    exams = load_exam_list(data_pkl)
    return dataset_splits(exams, seed, float(tcfg["val_fraction"]), float(tcfg["test_fraction"]),
                          {int(k): v for k, v in dict(tcfg["splits"]).items()})


def run_train(data_pkl: str, cropped_dir: str, out_model: str, out_stages: Sequence[str], out_history: str,
              out_splits: str, state_dir: str, tb_dir: str, model: Mapping[str, Any], train: Mapping[str, Any],
              window: Sequence[int], seed: int, threads: int = 1, device: str = "auto", code: str = "") -> None:
    """Snakemake entry point: train GLAM on the training exams, write per-stage and final checkpoints."""
    from mammoflow.training.torchutil import device as pick_device
    cfg = model_config(model, window)
    tcfg = train_config(train)
    splits = _splits_for(data_pkl, tcfg, seed)
    images, rejected = load_exam_images(data_pkl, cropped_dir, None, cfg.window, splits)
    _write_csv(out_splits, [{"image_index": im.image_id, "exam_index": im.exam_index, "view": im.view,
                             "split": im.split, "benign_label": im.benign, "malignant_label": im.malignant}
                            for im in images], ["image_index", "exam_index", "view", "split", "benign_label",
                                                "malignant_label"])
    train_set = [im for im in images if im.split == "training"]
    val_set = [im for im in images if im.split == "validation"]
    if not train_set or not any(im.malignant for im in train_set):
        raise ConfigError(f"{data_pkl}: no training images with a malignant label; GLAM cannot be trained")
    log.info("training GLAM on %d images (%d validation, %d rejected); model %s", len(train_set), len(val_set),
             len(rejected), cfg.to_dict())
    dev = pick_device(device)
    model_, history = train_glam(train_set, val_set, cfg, {**tcfg}, state_dir, seed, threads, tb_dir,
                                 device=dev, code=code)
    for si, path in enumerate(out_stages):
        src = Path(state_dir) / f"stage{si + 1}_{STAGES[si]}.pt"
        ck = load_checkpoint(src)
        save_atomic(ck, path)
    save_atomic({"model": {k: v.cpu() for k, v in model_.state_dict().items()}, "model_config": cfg.to_dict(),
                 "history": history, "score": tcfg["score"]}, out_model)
    cols = sorted({k for h in history for k in h}, key=lambda k: (k not in ("stage", "epoch"), k))
    _write_csv(out_history, history, cols)
    (Path(state_dir) / "last.pt").unlink(missing_ok=True)   # a finished run is not resumed


def run_predict(model_path: str, data_pkl: str, cropped_dir: str, seg_dir: str, out_predictions: str,
                out_saliency: str, out_rejected: str, figures: Sequence[str], train: Mapping[str, Any],
                window: Sequence[int], seed: int, threads: int = 1, device: str = "auto",
                rejected_tables: Sequence[str] = ()) -> None:
    """Snakemake entry point: predictions.csv, per-lesion saliency Dice and the five-panel figures (one job)."""
    from mammoflow.datasets.nyu import read_rejected
    from mammoflow.training.torchutil import device as pick_device
    torch.set_num_threads(int(threads))
    tcfg = train_config(train)
    model = load_glam(model_path)
    if list(model.cfg.window) != list(window):
        raise ConfigError(f"model window {model.cfg.window} differs from glam.window {list(window)}")
    splits = _splits_for(data_pkl, tcfg, seed)
    images, rejected = load_exam_images(data_pkl, cropped_dir, seg_dir, model.cfg.window, splits, cache_mb=0)
    wanted = {Path(f).stem: f for f in figures}
    results, sal_rows = [], []
    for res in infer(model, images, tcfg["score"], batch_size=2, device=pick_device(device)):
        sal_rows.extend(saliency_rows(res, float(tcfg["dice_threshold"])))
        if res.image.image_id in wanted:
            visualize(res, wanted.pop(res.image.image_id), model.cfg.crop_shape)
        results.append(GlamResult(res.image, res.scores, np.empty(0), np.empty(0), res.positions, np.empty(0),
                                  res.y_global, res.y_local))   # keep only what the tables need in memory
    write_predictions(results, out_predictions)
    _write_csv(Path(out_saliency).with_name("scores.csv"),
               [{"image_index": r.image.image_id, "split": r.image.split,
                 **{f"{c}_{m}": f"{v[j]:.6f}" for m, v in (("global", r.y_global), ("local", r.y_local))
                    for j, c in enumerate(CLASSES)}} for r in results],
               ["image_index", "split", "benign_global", "malignant_global", "benign_local", "malignant_local"])
    _write_csv(out_saliency, sal_rows, ["image_index", "split", "lesion_class", "lesion_pixels", "dice",
                                        "dice_uniform", "dice_top1pct"])
    earlier = [r for t in rejected_tables for r in read_rejected(t)]
    reasons = {r["image_id"]: r["reason"] for r in earlier + rejected if r.get("image_id")}
    for image_id, path in wanted.items():      # listed images that never reached the model
        visualize_rejected(image_id, reasons.get(image_id, "not in data.pkl (rejected before the model)"), path)
    from mammoflow.datasets.nyu import write_rejected
    write_rejected(out_rejected, rejected)
    log.info("predicted %d images, %d lesion masks scored, %d rejected", len(results), len(sal_rows), len(rejected))


def run_metrics(predictions: str, saliency: str, splits_csv: str, out_json: str, train: Mapping[str, Any]) -> None:
    """Snakemake entry point: metrics.json (test AUCs, saliency Dice vs the uniform baseline)."""
    tcfg = train_config(train)
    with open(splits_csv, newline="") as fh:
        splits = {r["image_index"]: r["split"] for r in csv.DictReader(fh)}
    out = compute_metrics(predictions, saliency, splits, float(tcfg["dice_threshold"]))
    out["score"] = tcfg["score"]
    scores = Path(saliency).with_name("scores.csv")
    if scores.is_file():   # for information: AUCs of the global module, the local module and their mean
        import pandas as pd
        sc = pd.read_csv(scores)
        sc = sc[sc["split"] == "test"]
        pred = pd.read_csv(predictions).set_index("image_index").loc[sc["image_index"]]
        for c in CLASSES:
            y = pred[f"{c}_label"].to_numpy()
            for name, s in (("global", sc[f"{c}_global"]), ("local", sc[f"{c}_local"]),
                            ("mean", (sc[f"{c}_global"] + sc[f"{c}_local"]) / 2)):
                out[f"{c}_auc_{name}"] = _r(roc_auc(y, s.to_numpy()))
    Path(out_json).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
