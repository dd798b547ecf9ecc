"""Stable seeds derived from names, so every image gets its own reproducible random stream."""

from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(*parts: object) -> int:
    """A 64-bit integer hash of the parts that is the same on every machine and run."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little")


def image_seed(image_id: str, salt: str | int = "", base: int = 0) -> int:
    """Seed for the random stream of one image (and one purpose, given by salt)."""
    return stable_hash(base, salt, image_id) % (2**63)


def rng_for(image_id: str, salt: str | int = "", base: int = 0) -> np.random.Generator:
    """A numpy Generator seeded from the image id, the purpose and the global seed."""
    return np.random.default_rng(image_seed(image_id, salt, base))
