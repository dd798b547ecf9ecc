"""Parse-time listings of raw datasets and their stable assignment to batch shards."""

from __future__ import annotations

import importlib
import math
from types import ModuleType
from typing import Any

import pandas as pd

from mammoflow.core.determinism import stable_hash
from mammoflow.datasets.formats import FORMATS, adapter, canvas_kinds, canvas_maps  # noqa: F401 (re-exported)

LISTING_COLUMNS = ["image_id", "patient_id", "study_id", "laterality", "view", "split", "source", "expected",
                   "listing_reason", "shard"]



def n_shards(n_images: int, shard_size: int) -> int:
    """Number of shards for a dataset (at least one)."""
    return max(1, math.ceil(n_images / max(1, shard_size)))


def shard_of(image_id: str, n: int) -> str:
    """Stable shard name of an image: membership does not move when rows are added or reordered."""
    width = max(3, len(str(n - 1)))
    return f"s{stable_hash('shard', image_id) % n:0{width}d}"


def synthetic(fmt: str) -> ModuleType:
    """The synthetic writer of a format (mammoflow.datasets.synthetic.<format>)."""
    adapter(fmt)
    return importlib.import_module(f"mammoflow.datasets.synthetic.{fmt}")


def synth_config(fmt: str, block: dict[str, Any]) -> Any:
    """The frozen config of a format's synthetic writer, built from the dataset's validated block."""
    return getattr(synthetic(fmt), FORMATS[fmt]).from_config(block)


def raw_listing(spec: dict[str, Any]) -> pd.DataFrame:
    """The adapter's listing (annotations.LISTING_COLUMNS); for a synthetic dataset the one planned."""
    fmt, root = spec["format"], spec["root"]
    if "synthetic" not in spec:
        return adapter(fmt).listing(root)
    if fmt == "vindr":
        from mammoflow.datasets import vindr
        from mammoflow.datasets.synthetic.vindr import BREAST_COLUMNS, vindr_plan, writes_file

        plan = vindr_plan(synth_config(fmt, spec["synthetic"]))
        written = {s for s, d in zip(plan["source"], plan["defect"]) if writes_file({"defect": d})}
        return vindr.listing_from_breast(root, plan[BREAST_COLUMNS].astype(str), written.__contains__)
    return synthetic(fmt).listing(synth_config(fmt, spec["synthetic"]), root)


def listing(spec: dict[str, Any], shard_size: int) -> pd.DataFrame:
    """Listing of a dataset's images with the shard of each usable one ('' for rows rejected here)."""
    df = raw_listing(spec)
    df["expected"] = df["listing_reason"] == ""
    n = n_shards(int(df["expected"].sum()), shard_size)
    df["shard"] = [shard_of(i, n) if good else "" for i, good in zip(df["image_id"], df["expected"])]
    return df[LISTING_COLUMNS].reset_index(drop=True)


def shard_members(df: pd.DataFrame) -> dict[str, list[str]]:
    """Shard name -> sorted image ids (usable rows only)."""
    ok = df[df["shard"] != ""]
    return {s: sorted(g["image_id"].tolist()) for s, g in ok.groupby("shard", sort=True)}
