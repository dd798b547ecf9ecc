"""Grad-CAM on forward/backward hooks of the last convolutional block, on whole canvases, and the pointing game.

Maps are computed on the whole (scaled) canvas of each test image, so the peak can fall anywhere in the breast:
for roi-trained models the canvas is scaled so that a lesion has the size it had in the training crops."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn

from mammoflow.core import rejections
from mammoflow.core.errors import ImageRejected
from mammoflow.evaluation.metrics import write_json
from mammoflow.io import png
from mammoflow.pipelines.transfer import models, prep
from mammoflow.pipelines.transfer.config import TransferConfig
from mammoflow.training.device import device as pick_device

log = logging.getLogger("mammoflow.pipelines.transfer.gradcam")
POINTING_COLUMNS = ["image_id", "label", "prob", "peak_x", "peak_y", "hit", "centre_x", "centre_y", "centre_hit",
                    "n_lesions"]


def upsample(cam: torch.Tensor, size: tuple[int, int], stride: float | None = None,
             offset: float | None = None) -> torch.Tensor:
    """N x 1 x h x w cell maps -> N x H x W, bilinear, with cell i centred on input pixel offset + stride * i (border
    values beyond the outer cells). Without stride: the plain resize (cells spread evenly over the input)."""
    if stride is None:
        return torch.nn.functional.interpolate(cam, size=size, mode="bilinear", align_corners=False)[:, 0]
    off = (stride - 1) / 2 if offset is None else offset
    n_h, n_w = cam.shape[-2:]

    def norm(n_px: int, n_cells: int) -> torch.Tensor:
        idx = (torch.arange(n_px, dtype=torch.float32, device=cam.device) - off) / stride
        return 2 * idx / max(n_cells - 1, 1) - 1 if n_cells > 1 else torch.zeros(n_px, device=cam.device)

    gy, gx = torch.meshgrid(norm(size[0], n_h), norm(size[1], n_w), indexing="ij")
    grid = torch.stack([gx, gy], -1)[None].expand(cam.shape[0], -1, -1, -1)
    return torch.nn.functional.grid_sample(cam, grid, mode="bilinear", padding_mode="border",
                                           align_corners=True)[:, 0]


class GradCAM:
    """Grad-CAM of class `target` at one layer: ReLU(sum_k mean(dY/dA_k) A_k), upsampled to the input, in [0, 1].

    With `offset` (the input pixel of cell 0's centre, models.CAM_OFFSET) cell i is put back on pixel offset +
    stride * i, the centre of what it sees; without, a plain resize puts it at (i + 0.5) * input / cells, half a
    cell off for EfficientNet and ResNet (and stretched when the input is not a multiple of the stride)."""

    def __init__(self, model: nn.Module, layer: nn.Module, offset: float | None = None,
                 stride: float = models.STRIDE):
        self.offset, self.stride = offset, stride
        self.model, self.acts, self.grads = model, None, None
        self._h = [layer.register_forward_hook(self._fwd), layer.register_full_backward_hook(self._bwd)]

    def _fwd(self, module: nn.Module, inp: Any, out: torch.Tensor) -> None:
        self.acts = out

    def _bwd(self, module: nn.Module, grad_in: Any, grad_out: Any) -> None:
        self.grads = grad_out[0]

    def close(self) -> None:
        """Remove the hooks."""
        for h in self._h:
            h.remove()

    def __call__(self, x: torch.Tensor, target: int = 1, normalise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Maps (N x H x W, [0, 1] per map, or raw when not normalise) and P(target) of a prepared batch.

        Raw maps are in the target logit's units per feature cell, so they compare across inputs (sliding windows)."""
        self.model.eval()
        self.model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)  # the backward hook needs a graph even with frozen weights
            logits = self.model(x)
            logits[:, target].sum().backward()
        w = self.grads.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((w * self.acts).sum(1, keepdim=True)).detach()
        cam = upsample(cam, tuple(x.shape[-2:]), self.stride if self.offset is not None else None, self.offset)
        prob = torch.softmax(logits.detach().float(), 1)[:, target]
        if not normalise:
            return cam.cpu().numpy().astype(np.float32), prob.cpu().numpy()
        flat = cam.flatten(1)
        lo, hi = flat.min(1).values.view(-1, 1, 1), flat.max(1).values.view(-1, 1, 1)
        cam = torch.where(hi > lo, (cam - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(cam))
        return cam.cpu().numpy().astype(np.float32), prob.cpu().numpy()


def overlay(img: np.ndarray, cam: np.ndarray, alpha: float) -> np.ndarray:
    """8-bit BGR overlay of a [0, 1] greyscale input and its [0, 1] map (jet colour map)."""
    grey = cv2.cvtColor(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    heat = cv2.applyColorMap(np.round(cam * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(grey, 1 - alpha, heat, alpha, 0)


def whole_input(canvas: np.ndarray, factor: float, cfg: TransferConfig, path: str = "") -> tuple[np.ndarray, np.ndarray]:
    """A [0, 1] canvas scaled by factor, with CLAHE tiles of the training crops' size, and its breast (non-zero)
    pixels; ImageRejected if constant."""
    h, w = canvas.shape
    x = cv2.resize(canvas.astype(np.float32), (max(int(round(w * factor)), 8), max(int(round(h * factor)), 8)),
                   interpolation=cv2.INTER_AREA)
    breast = x > 0
    if cfg.clahe:
        x = prep.clahe(x, cfg.clahe_clip, cfg.clahe_tiles, path, kernel_px=max(cfg.input_size // cfg.clahe_tiles, 1))
    elif not float(x.max()) > float(x.min()):
        raise ImageRejected(path, "constant image: nothing to classify")
    return x, breast


def centre_of_breast(breast: np.ndarray) -> tuple[int, int]:
    """The centre-of-breast baseline: the centroid of the breast pixels (the image centre without any)."""
    ys, xs = np.nonzero(breast)
    if not len(xs):
        return breast.shape[1] // 2, breast.shape[0] // 2
    return int(round(xs.mean())), int(round(ys.mean()))


def cam_image(cam: GradCAM, img: np.ndarray, breast: np.ndarray, device: torch.device,
              pad: int = 0) -> tuple[np.ndarray, float]:
    """Grad-CAM map (restricted to the breast when there is one) and P(malignant) of one scaled input.

    The input is first zero-padded by `pad` pixels on every side, as training crops are where they leave the
    canvas, so the network's own border padding does not put the map's peak in the image corners; then on the
    bottom and right up to a multiple of the backbones' output stride, so that the upsampled map's cells lie on
    the input pixels they come from (otherwise the map is stretched by up to a cell across the image)."""
    h, w = img.shape[0] + 2 * pad, img.shape[1] + 2 * pad
    eh, ew = -h % models.STRIDE, -w % models.STRIDE
    x = cv2.copyMakeBorder(img, pad, pad + eh, pad, pad + ew, cv2.BORDER_CONSTANT, value=0.0)
    t = prep.to_model(torch.from_numpy(np.ascontiguousarray(x))[None, None].to(device))
    m, p = cam(t, 1)
    m = m[0][pad:pad + img.shape[0], pad:pad + img.shape[1]]
    if breast.any():
        m = np.where(breast, m, 0.0).astype(np.float32)
    if m.max() > 0:
        m = (m / m.max()).astype(np.float32)
    return m, float(p[0])


def window_starts(n: int, side: int, step: int) -> list[int]:
    """Starts of the windows of `side` px whose centres run over 0..n-1 every `step` px (and n-1 itself)."""
    centres = list(range(0, n, max(int(step), 1)))
    if centres[-1] != n - 1:
        centres.append(n - 1)
    return [c - side // 2 for c in centres]


def sliding_map(cam: GradCAM, canvas: np.ndarray, breast: np.ndarray, side: int, step: int, cfg: TransferConfig,
                device: torch.device, path: str = "") -> tuple[np.ndarray, float, int]:
    """Grad-CAM aggregated over the square windows (side px every step px, centred in the breast) of a native
    [0, 1] canvas, each prepared exactly like a training crop (zero-padded crop, CLAHE, resize): the mean over the
    windows of P(malignant) x the window's Grad-CAM over its own maximum (not min-max stretched, so a flat map
    stays flat), in the canvas frame, restricted to the breast and
    scaled to max 1; the highest window P(malignant); the number of windows.

    Weighting by P matters: the windows' raw maps (ReLU of the positive part) are high on windows whose logit says
    benign overall, and their mean peaked on the skin line on every benchmark image."""
    h, w = canvas.shape
    boxes = [(x0, y0, x0 + side, y0 + side) for y0 in window_starts(h, side, step)
             for x0 in window_starts(w, side, step) if breast[y0 + side // 2, x0 + side // 2]]
    xs, kept = [], []
    for b in boxes:
        try:
            xs.append(prep.model_input(prep.crop(canvas, b), cfg.input_size, cfg.clahe, cfg.clahe_clip,
                                       cfg.clahe_tiles, path))
            kept.append(b)
        except ImageRejected:
            continue  # a constant window (CLAHE undefined) carries no evidence
    acc, cnt, pmax = np.zeros((h, w), np.float64), np.zeros((h, w), np.float64), 0.0
    for i in range(0, len(xs), cfg.eval_batch_size):
        t = prep.to_model(torch.from_numpy(np.stack(xs[i:i + cfg.eval_batch_size]))[:, None].to(device))
        maps, p = cam(t, 1, normalise=False)
        pmax = max(pmax, float(p.max()))
        for m, pw, (x0, y0, x1, y1) in zip(maps, p, kept[i:i + cfg.eval_batch_size]):
            m = float(pw) * cv2.resize(m / max(float(m.max()), 1e-12), (side, side), interpolation=cv2.INTER_LINEAR)
            sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
            acc[sy0:sy1, sx0:sx1] += m[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
            cnt[sy0:sy1, sx0:sx1] += 1
    m = np.where(breast & (cnt > 0), acc / np.maximum(cnt, 1), 0.0)
    return (m / m.max() if m.max() > 0 else m).astype(np.float32), pmax, len(kept)


def image_map(cam: GradCAM, canvas: np.ndarray, factor: float, cfg: TransferConfig, device: torch.device,
              path: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The scaled canvas (for overlays), its breast, the Grad-CAM map in its frame and P(malignant) of one canvas:
    one whole-canvas pass (gradcam_mode whole) or the mean over ROI-sized windows (sliding; P = the highest
    window's)."""
    img, breast = whole_input(canvas, factor, cfg, path)
    if cfg.gradcam_mode == "whole":
        m, p = cam_image(cam, img, breast, device, cfg.input_size // 2)
        return img, breast, m, p
    side = max(int(round(cfg.input_size / factor)), 1)  # the training crops' median side
    mn, p, _ = sliding_map(cam, canvas, canvas > 0, side, max(int(round(side * cfg.gradcam_step)), 1), cfg,
                           device, path)
    m = np.where(breast, cv2.resize(mn, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_AREA), 0.0)
    return img, breast, (m / m.max() if m.max() > 0 else m).astype(np.float32), p


def _hit(px: int, py: int, boxes: list[tuple[float, float, float, float]]) -> int:
    return int(any(b[0] <= px < b[2] and b[1] <= py < b[3] for b in boxes))


def run(samples: pd.DataFrame, model: nn.Module, backbone: str, cfg: TransferConfig, factor: float,
        out_dir: str | Path, device: torch.device) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """<out_dir>/<image_id>.png (overlay) + .npy (map) for every image of the samples, and the pointing table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.to(device)
    cam = GradCAM(model, models.cam_layer(model, backbone), models.CAM_OFFSET[backbone])
    rows, rej = [], []
    try:
        for image_id, g in samples.groupby("image_id", sort=True):
            path = str(g["png_path"].iloc[0])
            try:
                img, breast, m, p = image_map(cam, png.read_unit(path), factor, cfg, device, path)
            except ImageRejected as e:
                rej.append(rejections.row(image_id, path, "transfer_gradcam", str(e)))
                continue
            np.save(out / f"{image_id}.npy", m.astype(np.float16))
            png.write(out / f"{image_id}.png", overlay(img, m, cfg.gradcam_alpha))
            label = int(g["label"].max())
            mal = g[(g["label"] == 1) & g["bx0"].notna()]
            boxes = [tuple(float(v) * factor for v in b) for b in mal[["bx0", "by0", "bx1", "by1"]].to_numpy()]
            py, px = np.unravel_index(int(np.argmax(m)), m.shape)
            cx, cy = centre_of_breast(breast)
            scored = label == 1 and bool(boxes)
            rows.append({"image_id": image_id, "label": label, "prob": round(p, 6), "peak_x": int(px),
                         "peak_y": int(py), "hit": _hit(px, py, boxes) if scored else "", "centre_x": cx,
                         "centre_y": cy, "centre_hit": _hit(cx, cy, boxes) if scored else "",
                         "n_lesions": len(boxes)})
    finally:
        cam.close()
    return pd.DataFrame(rows, columns=POINTING_COLUMNS), rej


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score 95 % interval of a proportion k / n (nan without trials)."""
    if n <= 0:
        return float("nan"), float("nan")
    p, d = k / n, 1 + z * z / n
    mid, half = (p + z * z / (2 * n)) / d, z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return float(max(mid - half, 0.0)), float(min(mid + half, 1.0))


def pointing_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Pointing-game accuracy of the Grad-CAM peak and of the centre-of-breast baseline on malignant images, with
    Wilson 95 % intervals (images counted as independent; two views of a patient are not quite)."""
    t = table[table["hit"].astype(str) != ""]
    n = int(len(t))
    k, kc = int(pd.to_numeric(t["hit"]).sum()), int(pd.to_numeric(t["centre_hit"]).sum())
    g = k / n if n else float("nan")
    c = kc / n if n else float("nan")
    out = {"n_malignant_images": n, "pointing_game": g, "pointing_game_ci": list(wilson(k, n)),
           "centre_baseline": c, "centre_baseline_ci": list(wilson(kc, n)), "margin": g - c}
    if not n:
        out["note"] = "no malignant test image with a lesion box: the pointing game is undefined"
    return out


def examples(table: pd.DataFrame, maps_dir: str | Path, out_png: str | Path, n: int = 6) -> None:
    """Figure of up to n malignant then benign overlays with the Grad-CAM peak (x) and the centre baseline (+)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = pd.concat([table[table["label"] == 1], table[table["label"] == 0]]).head(n)
    fig, axes = plt.subplots(1, max(len(t), 1), figsize=(2.2 * max(len(t), 1), 2.8), dpi=100, squeeze=False)
    for ax, r in zip(axes[0], t.itertuples()):
        ov = cv2.cvtColor(png.read(Path(maps_dir) / f"{r.image_id}.png", colour=True), cv2.COLOR_BGR2RGB)
        ax.imshow(ov)
        ax.plot([r.peak_x], [r.peak_y], "wx", ms=8, mew=2)
        ax.plot([r.centre_x], [r.centre_y], "w+", ms=8, mew=1)
        ax.set_title(f"{'M' if r.label else 'B'} p={r.prob:.2f}" + ("" if r.hit == "" else f" hit={r.hit}"),
                     fontsize=8)
    for ax in axes[0]:
        ax.axis("off")
    if not len(t):
        axes[0][0].text(0.5, 0.5, "no test image", ha="center")
    fig.tight_layout()
    fig.savefig(out_png, metadata={"Software": None})
    plt.close(fig)


def gradcam_job(splits_csv: str, checkpoint: str, backbone: str, cfg: TransferConfig, device: str, out_dir: str,
                outputs: dict[str, str], threads: int = 1) -> None:
    """Snakemake entry point: Grad-CAM of the test images (model loaded once), pointing table and summary."""
    torch.set_num_threads(max(int(threads), 1))
    samples = pd.read_csv(splits_csv, keep_default_na=False,
                          na_values={c: [""] for c in ("bx0", "by0", "bx1", "by1")})
    test = samples[samples["split"] == "test"]
    if cfg.gradcam_max_images:
        test = test[test["image_id"].isin(sorted(test["image_id"].unique())[:cfg.gradcam_max_images])]
    model, ck = models.load(checkpoint, backbone)
    factor = float(ck["canvas_factor"])
    table, rej = run(test, model, backbone, cfg, factor, out_dir, pick_device(device))
    table.to_csv(outputs["pointing"], index=False)
    write_json(outputs["summary"], {"backbone": backbone, "factor": factor, **pointing_summary(table)})
    if "examples" in outputs:
        examples(table, out_dir, outputs["examples"])
    rejections.write(outputs["rejected"], rej)
