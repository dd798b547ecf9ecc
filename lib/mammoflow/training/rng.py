"""Capture and restore every random stream a training run draws from (python, numpy, torch, generators)."""

from __future__ import annotations

import random
from typing import Any, Mapping

import numpy as np
import torch


def _np_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.as_tensor(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def rng_state(gens: Mapping[str, torch.Generator]) -> dict[str, Any]:
    """The states of the global RNGs and of the given generators (checkpoint-safe types only)."""
    return {"torch": torch.get_rng_state(), "numpy": _np_state(), "python": random.getstate(),
            **{f"gen_{k}": g.get_state() for k, g in gens.items()}}


def set_rng_state(state: Mapping[str, Any], gens: Mapping[str, torch.Generator]) -> None:
    """Restore what rng_state captured."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    for k, g in gens.items():
        g.set_state(state[f"gen_{k}"])
