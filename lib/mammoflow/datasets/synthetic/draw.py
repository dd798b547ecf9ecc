"""Pixels of the synthetic stand-ins: one rendering entry point, per-lesion masks, film artefacts, tissue maps."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np

from mammoflow.core.config import from_mapping
from mammoflow.datasets.synthetic.anatomy import render_anatomy
from mammoflow.datasets.synthetic.phantom import Lesion, Rendered, render_view
from mammoflow.io import png

CLASSES = ("background", "adipose", "fibroglandular", "pectoral")


class FromBlock:
    """Mixin of the synthetic writers' frozen configs: built from a dataset's validated `synthetic` block."""

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Any:
        """The config of the block's known keys (defaults come from the format's schema)."""
        return from_mapping(cls, cfg, f"synthetic ({cls.__name__})")


@dataclass(frozen=True)
class ViewPlan:
    """What to draw for one synthetic view (no pixels)."""

    height: int
    width: int
    laterality: str  # L: chest wall on the left, R: on the right
    view: str  # CC or MLO
    lesions: tuple[Lesion, ...]
    seed: int
    shape_seed: int
    difficulty: str = "easy"  # hard: anatomy renderer; easy: the simple phantom (fast unit tests)
    density: int = 0  # BI-RADS density 1-4 (A-D) for the hard renderer; 0 draws one from the seed


def render(p: ViewPlan) -> Rendered:
    """Render one view (the single place that chooses the renderer)."""
    if p.difficulty == "hard":
        return render_anatomy(p.height, p.width, p.laterality, p.view, list(p.lesions), p.seed, p.shape_seed,
                              p.density)
    if p.difficulty != "easy":
        raise ValueError(f"synthetic difficulty must be hard or easy, not {p.difficulty!r}")
    return render_view(p.height, p.width, p.laterality, p.view, list(p.lesions), p.seed, p.shape_seed)


def plan_lesion(rng: np.random.Generator, kind: str, height_scale: float = 1.0) -> Lesion:
    """A lesion at a random depth/offset of the breast, sized like the VinDr stand-in's."""
    size = rng.uniform(0.035, 0.06) if kind == "mass" else rng.uniform(0.025, 0.04)
    return Lesion(kind, float(rng.uniform(0.3, 0.65)), float(rng.uniform(-0.5, 0.5)), float(size * height_scale),
                  int(rng.integers(0, 2**31)))


def with_pathology(les: Lesion, malignant: bool, margin: str = "") -> Lesion:
    """The lesion with its planned pathology (and margin): the hard renderer draws the matching morphology."""
    return dataclasses.replace(les, malignant=bool(malignant), margin=margin)


def lesion_masks(r: Rendered) -> list[np.ndarray]:
    """One mask per rendered lesion (the union mask cut by each lesion's box)."""
    out = []
    for x0, y0, x1, y1 in r.boxes:
        m = np.zeros_like(r.lesion)
        ys, xs = slice(int(y0), int(np.ceil(y1))), slice(int(x0), int(np.ceil(x1)))
        m[ys, xs] = r.lesion[ys, xs]
        out.append(m)
    return out


def specks(mask: np.ndarray) -> list[tuple[float, float]]:
    """Centres (x, y) of the connected components of a mask (the calcification specks)."""
    n, _, _, cents = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [(float(x), float(y)) for x, y in cents[1:n]]


def speck_centres(r: Rendered, mask: np.ndarray) -> list[tuple[float, float]]:
    """Speck centres (x, y) inside one lesion's mask: the renderer's exact positions, else mask components."""
    if not r.specks:
        return specks(mask)
    h, w = mask.shape
    return [(x, y) for x, y, _ in r.specks if mask[min(h - 1, max(0, int(round(y)))), min(w - 1, max(0, int(round(x))))]]


def contour(mask: np.ndarray) -> list[tuple[float, float]]:
    """Outer contour (x, y) of the largest component of a mask, pixel centres."""
    cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not cs:
        return []
    c = max(cs, key=cv2.contourArea).reshape(-1, 2)
    return [(float(x), float(y)) for x, y in c]


def hull_points(mask: np.ndarray) -> list[tuple[float, float]]:
    """Vertices (x, y) of the convex hull of a mask's pixel centres."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return []
    hull = cv2.convexHull(np.stack([xs, ys], axis=1).astype(np.int32)).reshape(-1, 2)
    return [(float(x), float(y)) for x, y in hull]


def film(image: np.ndarray, breast: np.ndarray, laterality: str, rng: np.random.Generator,
         zero_fraction_bg: float = 0.9) -> np.ndarray:
    """Scanned-film look: faint background noise, a bright label on the nipple side, a thin scanner border."""
    h, w = image.shape
    out = image.copy()
    noise = rng.uniform(0.0, 0.04, size=image.shape).astype(np.float32)
    noise[rng.random(image.shape) < zero_fraction_bg] = 0.0
    out = np.where(breast, out, noise)
    lh, lw = max(4, h // 24), max(8, w // 8)  # the film label (letters and a number), away from the breast
    y0 = int(rng.integers(h // 40 + 1, h // 8 + 2))
    x0 = w - lw - w // 30 - 1 if laterality == "L" else w // 30 + 1
    label = np.zeros((lh, lw), dtype=np.float32)
    label[1:-1, 1:-1] = 0.95
    label[lh // 3:2 * lh // 3, lw // 4:3 * lw // 4] = 0.2
    region = out[y0:y0 + lh, x0:x0 + lw]
    out[y0:y0 + lh, x0:x0 + lw] = np.where(breast[y0:y0 + lh, x0:x0 + lw], region,
                                           label[:region.shape[0], :region.shape[1]])
    side = slice(w - 2, w) if laterality == "L" else slice(0, 2)
    out[:, side] = np.where(breast[:, side], out[:, side], 0.8)  # scanner border on the nipple side
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def tissue_classes(r: Rendered, view: str) -> np.ndarray:
    """Class map (0 background, 1 adipose, 2 fibroglandular, 3 pectoral) of a rendered view.

    Pectoral: the bright MLO triangle in the chest-wall corner; fibroglandular: the hard renderer's gland map
    above one half, else breast tissue brighter than the breast's own 60th percentile, smoothed; adipose: the
    rest of the breast."""
    img, breast = r.image, r.breast
    out = np.zeros(img.shape, dtype=np.uint8)
    out[breast] = 1
    vals = img[breast]
    if r.gland is not None:  # hard renderer: its own fibroglandular map
        out[breast & (r.gland > 0.5)] = 2
    elif vals.size:
        smooth = cv2.GaussianBlur(img, (0, 0), max(1.0, img.shape[0] / 150))
        out[breast & (smooth > np.percentile(vals, 60))] = 2
    if view == "MLO":  # the bright component in the upper chest-wall corner is the muscle
        h, w = img.shape
        side = np.flatnonzero(breast.any(axis=0))
        left_wall = side.size == 0 or breast[:, : w // 10].sum() >= breast[:, -(w // 10):].sum()
        pect = breast & (img >= 0.53) & ~r.lesion
        n, labels, stats, cents = cv2.connectedComponentsWithStats(pect.astype(np.uint8), connectivity=8)
        for k in range(1, n):
            cx, cy = cents[k]
            near_wall = cx < 0.4 * w if left_wall else cx > 0.6 * w
            if near_wall and cy < 0.5 * h and stats[k, cv2.CC_STAT_AREA] > 0.002 * h * w:
                out[labels == k] = 3
    return out


def truncate(path: str | Path, keep: float = 0.4) -> None:
    """Cut a written file short (an interrupted copy)."""
    p = Path(path)
    data = p.read_bytes()
    p.write_bytes(data[: max(1, int(len(data) * keep))])


def quantise(image: np.ndarray, bits: int) -> np.ndarray:
    """[0,1] float to unsigned integers of the given bit depth (uint8 for 8 bits, else uint16)."""
    top = 2**bits - 1
    return np.rint(np.clip(image, 0, 1) * top).astype(np.uint8 if bits <= 8 else np.uint16)


def split_of(n: int, test_fraction: float, rng: np.random.Generator) -> list[str]:
    """'training'/'test' for n cases, a fixed random subset of round(n*test_fraction) in test."""
    n_test = int(round(n * test_fraction))
    test = set(rng.choice(n, size=n_test, replace=False).tolist()) if n_test else set()
    return ["test" if k in test else "training" for k in range(n)]


def ground_truth_files(image_ids: list[str]) -> list[str]:
    """Relative paths of the ground-truth breast and lesion masks every stand-in writes."""
    return [f"ground_truth/{i}_{k}.png" for i in image_ids for k in ("breast", "lesion")]


def write_ground_truth(root: Path, image_id: str, breast: np.ndarray, lesion: np.ndarray) -> None:
    """ground_truth/<id>_breast.png and _lesion.png (uint8 0/255) of one view."""
    png.write(root / "ground_truth" / f"{image_id}_breast.png", breast.astype(np.uint8) * 255)
    png.write(root / "ground_truth" / f"{image_id}_lesion.png", lesion.astype(np.uint8) * 255)


def write_dicom(path: str | Path, stored: np.ndarray, tags: dict[str, object], transfer_syntax: str = "explicit_le",
                bits_stored: int = 16) -> None:
    """A greyscale DICOM (MONOCHROME2, unsigned) with the given top-level tags, in a named transfer syntax."""
    import warnings

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import generate_uid

    from mammoflow.io.dicom_writer import TRANSFER_SYNTAXES

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = TRANSFER_SYNTAXES["explicit_le"]
    for k, v in tags.items():
        setattr(ds, k, v)
    ds.SOPInstanceUID = str(tags.get("SOPInstanceUID", generate_uid(entropy_srcs=[str(path.name)])))
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    arr = np.ascontiguousarray(stored.astype(np.uint16))
    ds.PixelData = arr.tobytes()
    ts = TRANSFER_SYNTAXES[transfer_syntax]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ts.is_compressed:
            ds.compress(ts, arr, generate_instance_uid=False)
        else:
            ds.file_meta.TransferSyntaxUID = ts
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(path, enforce_file_format=True)
