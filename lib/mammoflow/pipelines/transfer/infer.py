"""ROI-less whole-image inference of a trained checkpoint on raw images (DICOM or PNG): P(malignant) + Grad-CAM."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from mammoflow.core import rejections
from mammoflow.core.errors import ConfigError, ImageRejected
from mammoflow.io import png
from mammoflow.pipelines.transfer import gradcam, models
from mammoflow.pipelines.transfer.config import TransferConfig
from mammoflow.preprocess.canvas import PreprocessParams, preprocess_image
from mammoflow.training.device import device as pick_device

log = logging.getLogger("mammoflow.pipelines.transfer.infer")
COLUMNS = ["image_id", "source_path", "prob_malignant", "peak_x", "peak_y", "map_path"]


def infer_images(paths: Sequence[str | Path], checkpoint: str | Path, cfg: TransferConfig, pre: PreprocessParams,
                 out_dir: str | Path, device: str = "auto") -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Canvas of each raw image (the foundation's preprocessing), the model on the whole scaled canvas (model loaded
    once): probabilities.csv rows, <out_dir>/<stem>.npy (Grad-CAM) and .png (overlay); bad files become rejections."""
    model, ck = models.load(checkpoint)
    if "canvas_factor" not in ck:
        raise ConfigError(f"{checkpoint}: not a transfer checkpoint (no canvas_factor)")
    dev = pick_device(device)
    model.to(dev)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cam = gradcam.GradCAM(model, models.cam_layer(model, str(ck["backbone"])), models.CAM_OFFSET[str(ck["backbone"])])
    rows, rej = [], []
    try:
        for p in paths:
            iid = f"{Path(p).parent.name}_{Path(p).stem}"
            try:
                canvas, _, _ = preprocess_image(p, pre)
                img, breast = gradcam.whole_input(canvas.astype(np.float32) / 65535.0, float(ck["canvas_factor"]),
                                                  cfg, str(p))
            except ImageRejected as e:
                rej.append(rejections.row(iid, p, "transfer_infer", str(e)))
                continue
            m, prob = gradcam.cam_image(cam, img, breast, dev, cfg.input_size // 2)
            np.save(out / f"{iid}.npy", m.astype(np.float16))
            png.write(out / f"{iid}.png", gradcam.overlay(img, m, cfg.gradcam_alpha))
            py, px = np.unravel_index(int(np.argmax(m)), m.shape)
            rows.append({"image_id": iid, "source_path": str(p), "prob_malignant": prob, "peak_x": int(px),
                         "peak_y": int(py), "map_path": str(out / f"{iid}.npy")})
    finally:
        cam.close()
    return pd.DataFrame(rows, columns=COLUMNS), rej


def infer_job(paths: Sequence[str], checkpoint: str, cfg: TransferConfig, pre: PreprocessParams, out_dir: str,
              out_csv: str, out_rejected: str, device: str = "auto", threads: int = 1) -> None:
    """Entry point: probabilities.csv, maps and rejections of raw images."""
    torch.set_num_threads(max(int(threads), 1))
    table, rej = infer_images(paths, checkpoint, cfg, pre, out_dir, device)
    table.to_csv(out_csv, index=False)
    rejections.write(out_rejected, rej)
