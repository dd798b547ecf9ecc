"""Shared fixtures of the seed-000 tests (helpers live in seed000_synth.py)."""

from __future__ import annotations

import pytest
import torch

from seed000_synth import make_dataset, synth_canvas  # noqa: F401  (re-exported for older imports)

torch.set_num_threads(2)


@pytest.fixture
def synth_dataset(tmp_path):
    """(images.csv, findings.csv, root) of a small synthetic dataset."""
    ip, fp = make_dataset(tmp_path / "data")
    return ip, fp, tmp_path
