"""Parse-time listings of raw datasets and their stable assignment to batch shards."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from mammoflow.core.determinism import stable_hash
from mammoflow.core.errors import ImageRejected
from mammoflow.core.paths import confined, is_safe_id

LISTING_COLUMNS = ["image_id", "study_id", "laterality", "view", "split", "source", "expected",
                   "listing_reason", "shard"]


def n_shards(n_images: int, shard_size: int) -> int:
    """Number of shards for a dataset (at least one)."""
    return max(1, math.ceil(n_images / max(1, shard_size)))


def shard_of(image_id: str, n: int) -> str:
    """Stable shard name of an image: membership does not move when rows are added or reordered."""
    width = max(3, len(str(n - 1)))
    return f"s{stable_hash('shard', image_id) % n:0{width}d}"


def _vindr_rows(spec: dict[str, Any]) -> pd.DataFrame:
    """image_id, study_id, laterality, view, split, source, will_exist for a VinDr-style dataset."""
    root = spec["root"]
    if "synthetic" in spec:
        from mammoflow.datasets.synthetic.vindr import SyntheticSpec, vindr_plan, writes_file

        plan = vindr_plan(SyntheticSpec.from_config(spec["synthetic"]))
        df = plan[["image_id", "study_id", "laterality", "view_position", "split", "source"]].copy()
        df["will_exist"] = plan.apply(writes_file, axis=1).to_numpy()
    else:
        csv = Path(root) / "breast-level_annotations.csv"
        if not csv.is_file():
            raise FileNotFoundError(f"dataset root {root} has no breast-level_annotations.csv (VinDr layout)")
        df = pd.read_csv(csv, dtype=str, usecols=["study_id", "image_id", "laterality", "view_position", "split"])
        df["source"] = "images/" + df["study_id"].str.strip() + "/" + df["image_id"].str.strip() + ".dicom"
        df["will_exist"] = None
    return df.rename(columns={"view_position": "view"})


def listing(spec: dict[str, Any], shard_size: int) -> pd.DataFrame:
    """Listing of a dataset's images with the shard of each usable one ('' for rows rejected here)."""
    df = _vindr_rows(spec)
    reasons, expected = [], []
    for image_id, study_id, source, will in zip(df["image_id"], df["study_id"], df["source"], df["will_exist"]):
        reason = ""
        if not (is_safe_id(image_id) and is_safe_id(study_id)):
            reason = "unsafe image or study id (only letters, digits, '_' and '-')"
        try:
            full = confined(spec["root"], source)
        except ImageRejected as exc:
            reason, full = exc.reason, None
        reasons.append(reason)
        if reason:
            expected.append(False)
        elif will is None:
            expected.append(os.path.isfile(full))
        else:
            expected.append(bool(will))
    df["listing_reason"] = reasons
    df["expected"] = expected
    ok = df["listing_reason"] == ""
    n = n_shards(int(ok.sum()), shard_size)
    df["shard"] = [shard_of(i, n) if good else "" for i, good in zip(df["image_id"], ok)]
    return df[LISTING_COLUMNS].reset_index(drop=True)


def shard_members(df: pd.DataFrame) -> dict[str, list[str]]:
    """Shard name -> sorted image ids (usable rows only)."""
    ok = df[df["shard"] != ""]
    return {s: sorted(g["image_id"].tolist()) for s, g in ok.groupby("shard", sort=True)}
