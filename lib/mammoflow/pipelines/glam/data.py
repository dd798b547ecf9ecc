"""GLAM model inputs: standardised windows of the cropped images, their labels, masks and augmentation."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mammoflow.core.errors import ConfigError
from mammoflow.pipelines.glam.plan import VIEWS, dataset_splits

log = logging.getLogger("mammoflow.pipelines.glam.data")

CLASSES = ("benign", "malignant")


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
    from mammoflow.io import png
    from mammoflow.pipelines.glam.centers import extract_window
    win, _ = extract_window(png.read(path), view, center, window, flip)
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
    from mammoflow.io import png
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
                            m = mask_to_window(png.read(mp), wl, view, center, window, flip) > 0
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


def batch_tensors(images: Sequence[GlamImage], rngs: Sequence[np.random.Generator] | None,
                  aug: Mapping[str, Any] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1, H, W) windows (augmented when rngs and aug are given) and (B, 2) benign/malignant labels."""
    wins = []
    for i, im in enumerate(images):
        w = im.window.astype(np.float32, copy=False)
        if rngs is not None and aug is not None:
            w = augment_window(w, rngs[i], aug)
        wins.append(w)
    x = torch.from_numpy(np.stack(wins))[:, None]
    y = torch.tensor([im.labels for im in images], dtype=torch.float32)
    return x, y


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



class WindowSet(Dataset):
    """GlamImages as a dataset (items are the images; `collate` keeps a batch as a list)."""

    def __init__(self, images: Sequence[GlamImage]):
        self.images = list(images)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> GlamImage:
        return self.images[i]

    @staticmethod
    def collate(batch: list[GlamImage]) -> list[GlamImage]:
        """A batch stays a list of images (windows are stacked by the task)."""
        return list(batch)


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """A CSV with the given columns (missing values empty)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in columns})


def exam_splits(data_pkl: str | Path, tcfg: Mapping[str, Any], seed: int) -> list[str]:
    """The split of every exam of a data.pkl (training/validation/test)."""
    from mammoflow.datasets.nyu import load_exam_list
    exams = load_exam_list(data_pkl)
    return dataset_splits(exams, seed, float(tcfg["val_fraction"]), float(tcfg["test_fraction"]),
                          {int(k): v for k, v in dict(tcfg["splits"]).items()})
