"""Cascade inference of a shard (both models loaded once): tissue map, FGT mask, FGT crop -> lesion
probabilities pasted back into the crop box at full size, a 4-panel figure and one row per image."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from mammoflow.core import rejections
from mammoflow.core.errors import ImageRejected
from mammoflow.io import png
from mammoflow.pipelines.cascade.crops import Box, crop, crop_box, paste_back, resize
from mammoflow.pipelines.cascade.model import build_model
from mammoflow.training.checkpoints import load_checkpoint

log = logging.getLogger("mammoflow.pipelines.cascade.infer")

FGT = 2
ROW_COLUMNS = ["image_id", "status", "fallback", "box_r0", "box_r1", "box_c0", "box_c1", "breast_px", "fgt_px",
               "fgt_fraction", "max_prob", "note"]
SUFFIXES = ("tissue_seg", "fgt_mask", "cancer_prob", "visualization")


def load_stage(path: str | Path) -> tuple[nn.Module, tuple[int, int]]:
    """A stage checkpoint (best_stage*.pth) as an eval-mode model (strict load) and its input size."""
    ck = load_checkpoint(path)
    model = build_model(str(ck["model_name"]), int(ck["classes"]), "none")
    model.load_state_dict(ck["model"], strict=True)
    return model.eval(), (int(ck["size"][0]), int(ck["size"][1]))


@dataclass
class Cascade:
    """Both stages, their input sizes and the crop margin."""

    stage1: nn.Module
    size1: tuple[int, int]
    stage2: nn.Module
    size2: tuple[int, int]
    margin: float

    @classmethod
    def load(cls, stage1: str | Path, stage2: str | Path, margin: float) -> "Cascade":
        """Both checkpoints, loaded once."""
        m1, s1 = load_stage(stage1)
        m2, s2 = load_stage(stage2)
        return cls(m1, s1, m2, s2, margin)

    @torch.no_grad()
    def tissue(self, image: np.ndarray) -> np.ndarray:
        """Stage 1 class map (uint8 0..3) at the image's size."""
        x = torch.from_numpy(resize(image, self.size1).astype(np.float32))[None, None]
        pred = self.stage1(x).argmax(1)[0].numpy().astype(np.uint8)
        return resize(pred, image.shape, nearest=True)

    def fgt(self, image: np.ndarray) -> np.ndarray:
        """Stage 1 FGT mask at the image's size."""
        return self.tissue(image) == FGT

    @torch.no_grad()
    def lesion(self, image: np.ndarray, box: Box) -> np.ndarray:
        """Stage 2 lesion probability of the box, pasted back at the image's size."""
        x = torch.from_numpy(crop(image, box, self.size2).astype(np.float32))[None, None]
        prob = self.stage2(x)[0, 0].sigmoid().numpy()
        return paste_back(prob, box, image.shape)

    def run(self, image: np.ndarray, breast: np.ndarray) -> dict[str, Any]:
        """Tissue map, FGT mask, crop box (breast-box fallback when FGT is empty) and full-size lesion map."""
        classes = self.tissue(image)
        fgt = classes == FGT
        box = crop_box(fgt, breast, self.margin)
        return {"classes": classes, "fgt": fgt, "box": box, "prob": self.lesion(image, box)}


def visualization(path: str | Path, image: np.ndarray, out: Mapping[str, Any], title: str) -> None:
    """4 panels: image, tissue classes, FGT mask with the crop box, lesion probability over the image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(1, 4, figsize=(10, 4), dpi=80)
    ax[0].imshow(image, cmap="gray")
    ax[0].set_title("image")
    ax[1].imshow(out["classes"], cmap="viridis", vmin=0, vmax=3, interpolation="nearest")
    ax[1].set_title("tissue (bg/adip/FGT/pect)")
    ax[2].imshow(out["fgt"], cmap="Greens", interpolation="nearest")
    b = out["box"]
    ax[2].add_patch(Rectangle((b.c0, b.r0), b.c1 - b.c0, b.r1 - b.r0, fill=False, ec="red", lw=1.5))
    ax[2].set_title("FGT + crop" + (" (breast box)" if b.fallback else ""))
    ax[3].imshow(image, cmap="gray")
    ax[3].imshow(out["prob"], cmap="hot", alpha=0.5, vmin=0, vmax=1)
    ax[3].set_title("lesion probability")
    for a in ax:
        a.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _marker(paths: Mapping[str, str]) -> None:
    for p in paths.values():
        png.write(p, np.zeros((1, 1), dtype=np.uint8))


def predict_shard(items: Sequence[Sequence[str]], cascade: Cascade, out_dir: str | Path, table: str | Path,
                  rejected: str | Path, stage: str = "cascade_predict",
                  usable: set[str] | None = None) -> pd.DataFrame:
    """items = (image_id, canvas, breast mask); writes the four files of each image, the rows and rejections.
    Images outside `usable` (not in the canonical table) get 1x1 markers and an 'upstream' row."""
    rows, rej = [], []
    for image_id, img_path, breast_path in items:
        paths = {s: str(Path(out_dir) / f"{image_id}_{s}.png") for s in SUFFIXES}
        if usable is not None and image_id not in usable:
            rows.append({"image_id": image_id, "status": "upstream",
                         "note": "not in tables/images.csv (rejected upstream, see tables/rejected.csv)"})
            _marker(paths)
            continue
        try:
            image = png.read_unit(img_path)
            breast = png.read(breast_path) > 0
            if breast.shape != image.shape:
                raise ImageRejected(breast_path, f"breast mask is {breast.shape[1]}x{breast.shape[0]} but its "
                                                 f"image is {image.shape[1]}x{image.shape[0]}")
        except ImageRejected as exc:
            rej.append(rejections.row(image_id, exc.path, stage, exc.reason))
            rows.append({"image_id": image_id, "status": "rejected", "note": exc.reason})
            _marker(paths)
            continue
        out = cascade.run(image, breast)
        c, b = out["classes"], out["box"]
        tissue_px = int(((c == 1) | (c == FGT)).sum())
        png.write(paths["tissue_seg"], c)
        png.write(paths["fgt_mask"], out["fgt"].astype(np.uint8) * 255)
        png.write(paths["cancer_prob"], np.round(out["prob"] * 255).astype(np.uint8))
        note = "no FGT predicted: crop = breast bounding box" if b.fallback else ""
        visualization(paths["visualization"], image, out, f"{image_id} {note}")
        rows.append({"image_id": image_id, "status": "ok", "fallback": b.fallback, "box_r0": b.r0, "box_r1": b.r1,
                     "box_c0": b.c0, "box_c1": b.c1, "breast_px": tissue_px, "fgt_px": int(out["fgt"].sum()),
                     "fgt_fraction": float(out["fgt"].sum() / tissue_px) if tissue_px else float("nan"),
                     "max_prob": float(out["prob"].max()), "note": note})
    df = pd.DataFrame(rows, columns=ROW_COLUMNS)
    Path(table).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(table, index=False)
    rejections.write(rejected, rej)
    return df
