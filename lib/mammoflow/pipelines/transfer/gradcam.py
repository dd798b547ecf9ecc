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


class GradCAM:
    """Grad-CAM of class `target` at one layer: ReLU(sum_k mean(dY/dA_k) A_k), upsampled to the input, in [0, 1]."""

    def __init__(self, model: nn.Module, layer: nn.Module):
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

    def __call__(self, x: torch.Tensor, target: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Maps (N x H x W, [0, 1] per map) and P(target) of a prepared batch."""
        self.model.eval()
        self.model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)  # the backward hook needs a graph even with frozen weights
            logits = self.model(x)
            logits[:, target].sum().backward()
        w = self.grads.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((w * self.acts).sum(1, keepdim=True)).detach()
        cam = torch.nn.functional.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        flat = cam.flatten(1)
        lo, hi = flat.min(1).values.view(-1, 1, 1), flat.max(1).values.view(-1, 1, 1)
        cam = torch.where(hi > lo, (cam - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(cam))
        prob = torch.softmax(logits.detach().float(), 1)[:, target]
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
    canvas, so the network's own border padding does not put the map's peak in the image corners."""
    x = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0.0) if pad else img
    t = prep.to_model(torch.from_numpy(np.ascontiguousarray(x))[None, None].to(device))
    m, p = cam(t, 1)
    m = m[0][pad:pad + img.shape[0], pad:pad + img.shape[1]]
    if breast.any():
        m = np.where(breast, m, 0.0).astype(np.float32)
    if m.max() > 0:
        m = (m / m.max()).astype(np.float32)
    return m, float(p[0])


def _hit(px: int, py: int, boxes: list[tuple[float, float, float, float]]) -> int:
    return int(any(b[0] <= px < b[2] and b[1] <= py < b[3] for b in boxes))


def run(samples: pd.DataFrame, model: nn.Module, backbone: str, cfg: TransferConfig, factor: float,
        out_dir: str | Path, device: torch.device) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """<out_dir>/<image_id>.png (overlay) + .npy (map) for every image of the samples, and the pointing table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.to(device)
    cam = GradCAM(model, models.cam_layer(model, backbone))
    rows, rej = [], []
    try:
        for image_id, g in samples.groupby("image_id", sort=True):
            path = str(g["png_path"].iloc[0])
            try:
                img, breast = whole_input(png.read_unit(path), factor, cfg, path)
            except ImageRejected as e:
                rej.append(rejections.row(image_id, path, "transfer_gradcam", str(e)))
                continue
            m, p = cam_image(cam, img, breast, device, cfg.input_size // 2)
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


def pointing_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Pointing-game accuracy of the Grad-CAM peak and of the centre-of-breast baseline on malignant images."""
    t = table[table["hit"].astype(str) != ""]
    n = int(len(t))
    g = float(pd.to_numeric(t["hit"]).mean()) if n else float("nan")
    c = float(pd.to_numeric(t["centre_hit"]).mean()) if n else float("nan")
    out = {"n_malignant_images": n, "pointing_game": g, "centre_baseline": c, "margin": g - c}
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
