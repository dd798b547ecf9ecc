"""File-name conventions shared by rules and library code (kept free of heavy imports)."""

from __future__ import annotations

import math


def fmt_num(x: float | int | str) -> str:
    """Seed-style number in file names: 20.0 -> '20', 0.5 -> '0.5', 3.50 -> '3.5'."""
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"not a finite number: {x!r}")
    if v == int(v):
        return str(int(v))
    return repr(v)


TABLE_NAMES = ["images", "findings", "rejected", "resized_images_manifest", "training_resized_images",
               "test_resized_images"]
"""Canonical tables written per VinDr-style dataset under results/{dataset}/tables/."""
