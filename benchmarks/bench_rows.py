"""Row helpers shared by the benchmark scripts: an AUC with its CI as columns, and the CSV under benchmarks/out."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

OUT = Path(__file__).resolve().parent / "out"


def auc_fields(auc: dict[str, Any]) -> dict[str, float]:
    """roc_auc, lo, hi of an evaluate() CI dict, rounded to 4 digits."""
    return {"roc_auc": round(auc["value"], 4), "lo": round(auc["lo"], 4), "hi": round(auc["hi"], 4)}


def write_rows(rows: list[dict[str, Any]], name: str) -> Path:
    """benchmarks/out/{name}.csv from the rows; returns the path."""
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"{name}.csv"
    pd.DataFrame(rows).to_csv(out, index=False)
    return out
