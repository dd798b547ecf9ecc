"""Torch device choice and seeding of every random stream."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from mammoflow.core.errors import ConfigError


def device(prefer: str = "auto") -> torch.device:
    """CUDA when available (or asked for), CPU otherwise."""
    if prefer == "cpu":
        return torch.device("cpu")
    if prefer.startswith("cuda") or prefer == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda" if prefer == "auto" else prefer)
        if prefer != "auto":
            raise ConfigError(f"device {prefer!r} requested but CUDA is not available")
    return torch.device("cpu")


def seed_all(seed: int, threads: int | None = None) -> None:
    """Seed python, numpy and torch, and make CPU kernels deterministic."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    if threads:
        torch.set_num_threads(int(threads))
