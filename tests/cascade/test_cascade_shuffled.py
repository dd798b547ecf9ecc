"""Stage 2 learns lesion masks from the crops: trained on shuffled masks it scores clearly lower on held-out crops."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from mammoflow.core.config import schema_defaults
from mammoflow.pipelines.cascade.segtrain import StageConfig, fit_stage


def _crops(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy textured crops, each with one brighter disc (the lesion) at a random place; masks as float 0/1."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 32, 32, generator=g) * 0.5
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    y = torch.zeros(n, 32, 32)
    for i in range(n):
        cy, cx = (int(v) for v in torch.randint(7, 25, (2,), generator=g))
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2) <= 25
        y[i][disc] = 1.0
        x[i, 0][disc] += 0.35
    return x, y


def _dice(model, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        p = (torch.sigmoid(model(x)[:, 0]) > 0.5).float()
    return float((2 * (p * y).sum() + 1e-6) / (p.sum() + y.sum() + 1e-6))


def test_shuffled_masks_control(tmp_path):
    cfg = StageConfig.from_config(schema_defaults("cascade", "stage2", height=32, width=32, epochs=8, batch_size=8,
                                                  lr=1e-3))
    x, y = _crops(32, 0)
    xv, yv = _crops(8, 1)
    xt, yt = _crops(12, 2)
    real, _ = fit_stage("lesion", TensorDataset(x, y), TensorDataset(xv, yv), cfg, "unet", "none",
                        tmp_path / "real", seed=5)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(9))
    shuf, _ = fit_stage("lesion", TensorDataset(x, y[perm]), TensorDataset(xv, yv[perm[:8] % 8]), cfg, "unet",
                        "none", tmp_path / "shuffled", seed=5)
    d_real, d_shuf = _dice(real, xt, yt), _dice(shuf, xt, yt)
    print(f"held-out Dice real {d_real:.3f} shuffled {d_shuf:.3f}")
    assert d_real > 0.5, d_real
    assert d_real > d_shuf + 0.25, (d_real, d_shuf)
