"""Synthetic NYU-style dataset (GMIC/GLAM sample-data layout): 16-bit exams, exam list and lesion masks.

Layout under root: images/{i}_{view}.png (uint16, 12-bit values, exactly-zero background, L views facing
right, R views facing left, MLO with a pectoral muscle), exam_list_before_cropping.pkl (protocol 4, builtins
only), segmentation/{i}_{view}_{benign|malignant}.png (uint8 0/255). Unlike the GMIC sample masks (already in
the 2944x1920 window), our masks are in ORIGINAL image coordinates; optimal_centers.mask_to_window maps them.
Benign lesions are round circumscribed masses; malignant ones are denser, irregular and spiculated, often with
a calcification cluster."""

from __future__ import annotations

import logging
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np

from mammoflow.core.determinism import rng_for
from mammoflow.core.config import from_mapping
from mammoflow.core.errors import ConfigError
from mammoflow.datasets.nyu import CANCER_KEYS
from mammoflow.io import png
from mammoflow.core.safe_pickle import dump

log = logging.getLogger("mammoflow.datasets.synthetic.nyu")

SAMPLE_VIEW_ORDER = ("L-CC", "L-MLO", "R-MLO", "R-CC")  # key order of the GMIC/GLAM sample pickle


@dataclass(frozen=True)
class NYUSynthConfig:
    """Size and content of the synthetic NYU dataset (deterministic from seed)."""

    seed: int
    n_studies: int  # exams of 4 views
    height: int  # typical image rows (each image varies by +-10 %)
    width: int  # typical image columns
    lesion_fraction: float  # exams with a lesion in one breast
    malignant_fraction: float  # of those lesions
    calc_fraction: float  # malignant lesions that also show a calcification cluster
    second_benign_fraction: float  # exams with an extra benign lesion in the other breast
    lesion_size: float  # lesion radius as a fraction of the image height
    test_fraction: float  # exams in the test split (stratified by label)
    flip_fraction: float  # exams stored mirrored (horizontal_flip YES)
    inject_bad: bool  # append exams with broken inputs (see bad_inputs)
    difficulty: str = "hard"  # hard: the shared anatomy renderer; easy: the simple stand-in (fast unit tests)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "NYUSynthConfig":
        known = set(cls.__dataclass_fields__) - {"extra"}
        unknown = set(cfg) - known
        if unknown:
            raise ConfigError(f"synthetic NYU dataset: unknown keys {sorted(unknown)}")
        c = from_mapping(cls, cfg, "synthetic (nyu)")
        if c.n_studies < 1 or c.height < 128 or c.width < 96:
            raise ConfigError("synthetic NYU dataset: n_studies >= 1, height >= 128 and width >= 96 required")
        return c


@dataclass
class ExamPlan:
    """Labels, lesion kinds and flip of one exam (cheap to compute; drives the expected outputs)."""

    index: int
    lesions: dict[str, str]  # side -> "benign" | "malignant"
    calc: bool
    flip: str
    split: str
    bad: str = ""  # kind of injected defect


def _label_kind(lesions: Mapping[str, str]) -> str:
    return "malignant" if "malignant" in lesions.values() else ("benign" if lesions else "normal")


def plan(cfg: NYUSynthConfig) -> list[ExamPlan]:
    """Per-exam labels and split (stratified), plus the injected bad exams when configured."""
    plans = []
    for i in range(cfg.n_studies):
        rng = rng_for(f"exam{i}", "nyu_synth_plan", cfg.seed)
        lesions: dict[str, str] = {}
        if rng.random() < cfg.lesion_fraction:
            side = "L" if rng.random() < 0.5 else "R"
            lesions[side] = "malignant" if rng.random() < cfg.malignant_fraction else "benign"
            if rng.random() < cfg.second_benign_fraction:
                lesions["R" if side == "L" else "L"] = "benign"
        calc = bool(rng.random() < cfg.calc_fraction)
        flip = "YES" if rng.random() < cfg.flip_fraction else "NO"
        plans.append(ExamPlan(i, lesions, calc, flip, "training"))
    order = np.random.default_rng(cfg.seed).permutation(cfg.n_studies)
    for kind in ("malignant", "benign", "normal"):
        members = [k for k in order if _label_kind(plans[k].lesions) == kind]
        for k in members[: int(round(cfg.test_fraction * len(members)))]:
            plans[k].split = "test"
    if cfg.inject_bad:
        n = cfg.n_studies
        for j, bad in enumerate(("nonzero_background", "scanner_border", "missing_view", "small_images")):
            plans.append(ExamPlan(n + j, {}, False, "NO", "training", bad))
    return plans


def image_ids(p: ExamPlan) -> list[str]:
    """Ids of the images written for an exam (the missing-view exam lacks two files)."""
    skip = {"R-CC", "L-MLO"} if p.bad == "missing_view" else set()
    return [f"{p.index}_{v}" for v in SAMPLE_VIEW_ORDER if v not in skip]


def mask_ids(p: ExamPlan) -> list[str]:
    """Ids of the lesion masks written for an exam."""
    return [f"{p.index}_{v}_{cls}" for v in SAMPLE_VIEW_ORDER for side, cls in sorted(p.lesions.items())
            if v[0] == side]


def expected_outputs(cfg: NYUSynthConfig, root: str | Path) -> dict[str, list[str]]:
    """Every file the generator writes (for the rule's explicit outputs)."""
    root = Path(root)
    plans = plan(cfg)
    out = {
        "images": [str(root / "images" / f"{i}.png") for p in plans for i in image_ids(p)],
        "masks": [str(root / "segmentation" / f"{m}.png") for p in plans for m in mask_ids(p)],
        "exam_list": [str(root / "exam_list_before_cropping.pkl")],
    }
    if cfg.inject_bad:
        out["exam_list"].append(str(root / "exam_list_unsafe.pkl"))
    return out


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------

def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Unit-variance smooth noise: random values on a coarse grid, bicubic upsampling."""
    h, w = max(2, shape[0] // cell + 2), max(2, shape[1] // cell + 2)
    small = rng.standard_normal((h, w)).astype(np.float32)
    big = cv2.resize(small, (w * cell, h * cell), interpolation=cv2.INTER_CUBIC)[: shape[0], : shape[1]]
    return big / max(float(big.std()), 1e-6)


def _breast(rng: np.random.Generator, H: int, W: int, view: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(breast mask, normalised radius map, pectoral mask) with the chest wall at the left edge."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    wobble = 1 + 0.03 * _smooth_noise(rng, (H, 1), max(8, H // 12))[:, :1]
    if view == "CC":
        cy, ry, rx = H * rng.uniform(0.46, 0.54), H * rng.uniform(0.36, 0.43), W * rng.uniform(0.66, 0.84)
        r = np.sqrt(((yy - cy) / ry) ** 2 + (xx / (rx * wobble)) ** 2)
        pect = np.zeros((H, W), bool)
        breast = r < 1
    else:
        cy, ry, rx = H * rng.uniform(0.52, 0.6), H * rng.uniform(0.36, 0.42), W * rng.uniform(0.7, 0.86)
        r = np.sqrt(((yy - cy) / ry) ** 2 + (xx / (rx * wobble)) ** 2)
        # axillary tail: tissue along the chest wall up to the top edge
        top = (xx / (W * rng.uniform(0.42, 0.55))) + (yy / cy) < 1.05
        py, px = H * rng.uniform(0.38, 0.5), W * rng.uniform(0.3, 0.42)
        pect = (xx / px + yy / py) < 1
        breast = (r < 1) | top | pect
        r = np.minimum(r, np.where(top, 0.6, r))
    return breast, np.clip(r, 0, 1), pect


def _lesion(rng: np.random.Generator, kind: str, calc: bool, shape: tuple[int, int], centre: tuple[float, float],
            radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(additive intensity, mask) of a benign (round) or malignant (spiculated, dense) lesion."""
    H, W = shape
    add = np.zeros(shape, np.float32)
    mask = np.zeros(shape, bool)
    reach = int(np.ceil(radius * 2.8)) + 3  # everything is drawn inside this box around the centre
    cy, cx = centre
    y0, y1 = max(0, int(cy) - reach), min(H, int(cy) + reach + 1)
    x0, x1 = max(0, int(cx) - reach), min(W, int(cx) + reach + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = np.hypot(yy - cy, xx - cx)
    ang = np.arctan2(yy - cy, xx - cx)
    box = (slice(y0, y1), slice(x0, x1))
    if kind == "benign":
        m = d <= radius
        add[box] = np.where(m, rng.uniform(560, 700) * (1 - 0.3 * (d / radius) ** 4), 0)
        mask[box] = m
        return add, mask
    rr = np.ones_like(d)
    for k in range(3, 8):
        rr += 0.22 / (k - 2) ** 0.5 * np.cos(k * ang + rng.uniform(0, 2 * np.pi))
    core = d <= radius * rr
    local = np.where(core, rng.uniform(620, 800), 0).astype(np.float32)
    spic = np.zeros(d.shape, np.uint8)
    for a in rng.uniform(0, 2 * np.pi, int(rng.integers(8, 15))):
        length = radius * rng.uniform(1.6, 2.6)
        p0 = (int(round(cx - x0)), int(round(cy - y0)))
        p1 = (int(round(cx - x0 + length * np.cos(a))), int(round(cy - y0 + length * np.sin(a))))
        cv2.line(spic, p0, p1, 1, thickness=max(1, int(radius / 9)))
    local += spic * np.float32(rng.uniform(260, 380))
    if calc:
        for _ in range(int(rng.integers(7, 16))):
            t, rad = rng.uniform(0, 2 * np.pi), radius * rng.uniform(0.1, 1.3)
            py, px = cy + rad * np.sin(t), cx + rad * np.cos(t)
            local += np.where(np.hypot(yy - py, xx - px) <= rng.uniform(0.8, 1.8), rng.uniform(1100, 1600), 0
                              ).astype(np.float32)
    add[box] = cv2.GaussianBlur(local, (0, 0), 0.8)
    mask[box] = core | (cv2.dilate(spic, np.ones((3, 3), np.uint8)) > 0) & (d <= radius * 1.6)
    return add, mask


def render_view(p: ExamPlan, view: str, cfg: NYUSynthConfig) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One stored image (uint16, original orientation) and its lesion masks (bool, same coordinates)."""
    rng = rng_for(f"{p.index}_{view}", "nyu_synth_render", cfg.seed)
    H = int(round(cfg.height * rng.uniform(0.9, 1.1)))
    W = int(round(cfg.width * rng.uniform(0.9, 1.1)))
    if p.bad == "small_images" and view == "L-MLO":
        H, W = 80, 56  # too small for the erosions: the original crashes here
    elif p.bad == "small_images" and view == "R-CC":
        H, W = int(cfg.height * 0.62), int(cfg.width * 0.6)  # smaller than the window, still croppable
    side, v = view.split("-")
    if cfg.difficulty == "hard":
        img, masks, breast = _render_hard(p, view, cfg, rng, H, W)
        return _finish(p, view, img, masks, breast, rng, H, W)
    if cfg.difficulty != "easy":
        raise ConfigError(f"synthetic NYU dataset: difficulty must be hard or easy, not {cfg.difficulty!r}")
    breast, r, pect = _breast(rng, H, W, v)
    base = rng.uniform(1100, 1700)
    img = np.float32(base) * (0.6 + 0.4 * np.sqrt(1 - r ** 2))
    img += 190 * _smooth_noise(rng, (H, W), max(6, H // 40)) + 80 * _smooth_noise(rng, (H, W), 4)
    img += np.where(pect, np.float32(rng.uniform(500, 700)), np.float32(0))
    img += 25 * rng.standard_normal((H, W), dtype=np.float32)
    masks: dict[str, np.ndarray] = {}
    radius = cfg.lesion_size * H * rng.uniform(0.8, 1.25)
    if side in p.lesions:
        kind = p.lesions[side]
        ys, xs = np.nonzero(breast & (r < 0.72) & ~pect & (np.arange(W)[None, :] > 0.12 * W))
        k = int(rng.integers(len(ys)))
        add, mask = _lesion(rng, kind, p.calc, (H, W), (float(ys[k]), float(xs[k])), radius)
        img += add
        masks[kind] = mask & breast
    img = np.where(breast, np.clip(np.rint(img), 1, 4095), 0).astype(np.uint16)
    return _finish(p, view, img, masks, breast, rng, H, W)


def _render_hard(p: ExamPlan, view: str, cfg: NYUSynthConfig, rng: np.random.Generator, H: int, W: int
                 ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The shared hard renderer (anatomy + lesions), chest wall on the left; a breast's lesion is the same in
    both views (planned from the exam and side): a mass (malignant: + a calcification cluster when planned)."""
    from mammoflow.datasets.synthetic.anatomy import render_anatomy
    from mammoflow.datasets.synthetic.phantom import Lesion
    side, v = view.split("-")
    lesions = []
    kind = p.lesions.get(side)
    if kind is not None:
        lrng = rng_for(f"{p.index}_{side}", "nyu_synth_lesion", cfg.seed)
        size = cfg.lesion_size * float(lrng.uniform(0.8, 1.25))
        depth, offset = float(lrng.uniform(0.3, 0.65)), float(lrng.uniform(-0.5, 0.5))
        malignant = kind == "malignant"
        lesions.append(Lesion("mass", depth, offset, size, int(lrng.integers(0, 2**31)), malignant=malignant))
        if malignant and p.calc:
            lesions.append(Lesion("calc", depth, offset, size * 0.8, int(lrng.integers(0, 2**31)), malignant=True))
    shape_seed = int(rng_for(f"{p.index}_{side}", "nyu_synth_shape", cfg.seed).integers(0, 2**31))
    r = render_anatomy(H, W, "L", v, lesions, int(rng.integers(0, 2**31)), shape_seed, 0)
    img = np.where(r.breast, np.clip(np.rint(r.image * 4095), 1, 4095), 0).astype(np.uint16)
    masks = {kind: r.lesion & r.breast} if kind is not None else {}   # written even if empty (planned output)
    return img, masks, r.breast


def _finish(p: ExamPlan, view: str, img: np.ndarray, masks: dict[str, np.ndarray], breast: np.ndarray,
            rng: np.random.Generator, H: int, W: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Burned-in marker, injected defects and the stored orientation (right breasts mirrored)."""
    side = view.split("-")[0]
    if rng.random() < 0.5:  # a small burned-in marker in a far corner (removed by the crop's erosion)
        y0 = 8 if rng.random() < 0.5 else H - 30
        x0 = W - 40
        if not breast[max(0, y0 - 6): y0 + 28, x0 - 6: W].any():
            img[y0: y0 + 18, x0: x0 + 30] = 3900
    if p.bad == "nonzero_background" and view == "L-CC":
        img = np.where(img == 0, rng.integers(4, 40, size=img.shape), img).astype(np.uint16)
    if p.bad == "scanner_border" and view == "R-MLO":
        img[:6, :] = img[-6:, :] = 2600
        img[:, :6] = img[:, -6:] = 2600
    mirrored = (side == "R") != (p.flip == "YES")  # stored facing left
    if mirrored:
        img = np.ascontiguousarray(np.fliplr(img))
        masks = {k: np.fliplr(m) for k, m in masks.items()}
    return img, masks


def exam_dict(p: ExamPlan) -> dict[str, Any]:
    """The exam entry in the GMIC/GLAM sample format (plus our 'split' key)."""
    e: dict[str, Any] = {"horizontal_flip": p.flip}
    for v in SAMPLE_VIEW_ORDER:
        if p.bad == "missing_view" and v == "R-CC":
            continue  # the key itself is missing
        e[v] = [f"{p.index}_{v}"]
    lab = {f"{s}_{c}": int(p.lesions.get(s[0].upper()) == c) for s in ("left", "right") for c in ("benign", "malignant")}
    lab["benign"] = int(lab["left_benign"] or lab["right_benign"])
    lab["malignant"] = int(lab["left_malignant"] or lab["right_malignant"])
    lab["unknown"] = 0
    e["cancer_label"] = {k: lab[k] for k in CANCER_KEYS}
    for v in SAMPLE_VIEW_ORDER:
        for c in ("benign", "malignant"):
            e[f"{v}_{c}_seg"] = [f"{p.index}_{v}_{c}"]
    e["split"] = p.split
    return e


def _write_exam(root: Path, p: ExamPlan, cfg: NYUSynthConfig) -> None:
    written = set(image_ids(p))
    for view in SAMPLE_VIEW_ORDER:
        image_id = f"{p.index}_{view}"
        if image_id not in written:
            continue
        img, masks = render_view(p, view, cfg)
        png.write(root / "images" / f"{image_id}.png", img)
        for kind, m in masks.items():
            png.write(root / "segmentation" / f"{image_id}_{kind}.png", (m.astype(np.uint8) * 255))


def generate(root: str | Path, spec: Mapping[str, Any], threads: int = 1) -> list[dict[str, Any]]:
    """Write the whole synthetic dataset under root; returns the exam list (same bytes for any threads)."""
    cfg = NYUSynthConfig.from_config(spec)
    root = Path(root)
    plans = plan(cfg)
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:  # every image has its own random stream
            list(pool.map(lambda p: _write_exam(root, p, cfg), plans))
    else:
        for p in plans:
            _write_exam(root, p, cfg)
    exams = [exam_dict(p) for p in plans]
    dump(exams, root / "exam_list_before_cropping.pkl", protocol=4)
    if cfg.inject_bad:
        # what the original tools write after cropping: numpy ints inside; our loader must refuse it
        unsafe = [dict(exams[0], cancer_label={k: np.int64(v) for k, v in exams[0]["cancer_label"].items()})]
        with open(root / "exam_list_unsafe.pkl", "wb") as fh:
            pickle.dump(unsafe, fh, protocol=4)
    n_img = sum(len(image_ids(p)) for p in plans)
    log.info("wrote %d exams (%d images) under %s", len(exams), n_img, root)
    return exams
