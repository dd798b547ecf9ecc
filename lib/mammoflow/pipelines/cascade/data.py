"""Stage inputs: tissue pairs (canvas maps or tiryakiv label files) and FGT-cropped lesion pairs, with rejections."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mammoflow.core import rejections
from mammoflow.core.errors import ImageRejected
from mammoflow.core.paths import confined
from mammoflow.datasets import tissue
from mammoflow.io import png
from mammoflow.pipelines.cascade.crops import Box, crop, crop_box, crop_mask, resize

N_CLASSES = 4


@dataclass
class Pairs:
    """Images (float32 in [0,1]) and masks at one size, their ids, and the rejection rows of the others."""

    ids: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    def subset(self, keep: Sequence[bool]) -> "Pairs":
        """The pairs where keep is True (rejections kept)."""
        idx = [i for i, k in enumerate(keep) if k]
        return Pairs([self.ids[i] for i in idx], [self.images[i] for i in idx], [self.masks[i] for i in idx],
                     [self.boxes[i] for i in idx] if self.boxes else [], list(self.rejected))


def check_classes(labels: np.ndarray, path: str, image_shape: tuple[int, int]) -> np.ndarray:
    """A canvas tissue map (class indices 0..3) checked against its image's size and the class set."""
    if labels.shape != tuple(image_shape):
        raise ImageRejected(path, f"tissue map is {labels.shape[1]}x{labels.shape[0]} but its image is "
                                  f"{image_shape[1]}x{image_shape[0]}")
    if labels.dtype != np.uint8 or int(labels.max(initial=0)) >= N_CLASSES:
        bad = sorted(v for v in np.unique(labels).tolist() if v >= N_CLASSES)
        raise ImageRejected(path, f"tissue map values {bad[:8]} are not class indices 0..{N_CLASSES - 1}")
    return labels


def load_tissue(items: Sequence[tuple[str, str, str]], shape: tuple[int, int], stage: str,
                reader: Callable[[str, tuple[int, int]], np.ndarray] | None = None) -> Pairs:
    """(image_id, image path, label path) -> resized pairs; reader(label path, image shape) gives class indices
    (default: a canvas map of class indices; tissue.labels_from_file for raw 64/128/192/255 label files)."""
    out = Pairs()
    for image_id, img_path, lab_path in items:
        try:
            img = png.read_unit(img_path)
            lab = reader(lab_path, img.shape) if reader else check_classes(png.read(lab_path), lab_path, img.shape)
        except ImageRejected as exc:
            out.rejected.append(rejections.row(image_id, exc.path, stage, exc.reason))
            continue
        out.ids.append(image_id)
        out.images.append(resize(img, shape))
        out.masks.append(resize(lab, shape, nearest=True))
    return out


def raw_label_reader(path: str, shape: tuple[int, int]) -> np.ndarray:
    """Class indices of a raw tiryakiv label file (64/128/192/255), checked against the image size."""
    return tissue.labels_from_file(path, shape)


def folder_items(root: str | Path) -> list[tuple[str, str, str]]:
    """(image_id, image, label file) of a tiryakiv-layout folder (usable listing rows)."""
    lst = tissue.listing(root)
    lst = lst[lst["listing_reason"] == ""]
    return [(r.image_id, str(confined(root, r.source)), str(confined(root, tissue.label_source(r.source))))
            for r in lst.itertuples()]


def check_lesion(mask: np.ndarray, path: str, image_shape: tuple[int, int], breast: np.ndarray) -> np.ndarray:
    """A canvas lesion mask (0/255) as bool: same size as its image, not empty, not covering the whole breast."""
    if mask.shape != tuple(image_shape):
        raise ImageRejected(path, f"lesion mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
                                  f"{image_shape[1]}x{image_shape[0]}")
    m = mask > 0
    if not m.any():
        raise ImageRejected(path, "lesion mask is empty")
    inside = breast > 0
    if m.all() or (inside.any() and (m & inside).sum() >= inside.sum()):
        raise ImageRejected(path, "lesion mask covers the whole image/breast (all-lesion mask)")
    return m


def lesion_crops(items: Sequence[tuple[str, str, str, str]], fgt_of: Callable[[np.ndarray], np.ndarray],
                 shape: tuple[int, int], margin: float, stage: str) -> Pairs:
    """(image_id, canvas, lesion mask, breast mask) -> FGT crops of image and mask resized to shape, as the
    cascade feeds stage 2; fgt_of(image) is stage 1's FGT mask at the image's size."""
    out = Pairs()
    for image_id, img_path, les_path, breast_path in items:
        try:
            img = png.read_unit(img_path)
            breast = png.read(breast_path)
            les = check_lesion(png.read(les_path), les_path, img.shape, breast)
        except ImageRejected as exc:
            out.rejected.append(rejections.row(image_id, exc.path, stage, exc.reason))
            continue
        box = crop_box(fgt_of(img), breast > 0, margin)
        out.ids.append(image_id)
        out.images.append(crop(img, box, shape))
        out.masks.append(crop_mask(les, box, shape))
        out.boxes.append(box)
    return out
