"""Cascade stage training: an interrupted fit resumes from last.pt and ends with the uninterrupted weights."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from mammoflow.core.config import schema_defaults
from resume_util import interrupt_after
from mammoflow.pipelines.cascade.segtrain import StageConfig, fit_stage
from mammoflow.training import engine
from mammoflow.training.checkpoints import load_checkpoint


def _data(n: int, seed: int) -> TensorDataset:
    """Tiny tissue-like pairs: a bright band (class 2) on a dim breast (class 1), background 0."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 32, 32, generator=g) * 0.1
    y = torch.zeros(n, 32, 32, dtype=torch.long)
    y[:, :, 8:] = 1
    x[:, :, :, 8:] += 0.4
    for i in range(n):
        r = int(torch.randint(4, 24, (1,), generator=g))
        y[i, r:r + 6, 8:] = 2
        x[i, 0, r:r + 6, 8:] += 0.4
    return TensorDataset(x, y)


def test_interrupted_stage_resumes_exactly(tmp_path):
    cfg = StageConfig.from_config(schema_defaults("cascade", "stage1", height=32, width=32, epochs=3, batch_size=4))
    train, val = _data(8, 0), _data(4, 1)
    ref, _ = fit_stage("tissue", train, val, cfg, "unet", "none", tmp_path / "ref", seed=3)

    out = tmp_path / "resumed"
    with pytest.raises(engine.Interrupt):
        fit_stage("tissue", train, val, cfg, "unet", "none", out, seed=3, on_epoch_end=interrupt_after(2))
    assert load_checkpoint(out / "last.pt")["global_epoch"] == 2
    epochs_run = []
    model, _ = fit_stage("tissue", train, val, cfg, "unet", "none", out, seed=3, on_epoch_end=epochs_run.append)
    assert [r["epoch"] for r in epochs_run] == [2]  # continued from the saved epoch, not restarted
    a, b = ref.state_dict(), model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
