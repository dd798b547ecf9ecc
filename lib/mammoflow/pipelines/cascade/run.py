"""Entry points of the cascade's shard and summary jobs (one call per script)."""

from __future__ import annotations

from pathlib import Path
import json
from typing import Any, Mapping, Sequence

import pandas as pd
import torch

from mammoflow.core import rejections
from mammoflow.evaluation.metrics import write_json
from mammoflow.pipelines.cascade import density
from mammoflow.pipelines.cascade.infer import Cascade, predict_shard


def run_predict_shard(ids: Sequence[str], images_csv: str, canvas: str, breast: str, stage1: str, stage2: str,
                      margin: float, out_dir: str, table: str, rejected: str, threads: int = 1) -> None:
    """Cascade inference of one shard: both models loaded once, every image of the shard that is in the
    canonical image table (the others were rejected upstream and get marker files and a row saying so)."""
    torch.set_num_threads(threads)
    cas = Cascade.load(stage1, stage2, margin)
    usable = set(pd.read_csv(images_csv, dtype=str, keep_default_na=False)["image_id"])
    items = [(i, canvas.format(image_id=i), breast.format(image_id=i)) for i in ids]
    predict_shard(items, cas, out_dir, table, rejected, usable=usable)


def run_density(tables: Sequence[str], images_csv: str, thresholds: Sequence[float], out_csv: str,
                out_json: str) -> None:
    """density.csv (per image) and density.json (agreement with the dataset's density labels)."""
    df = density.density_table(tables, images_csv, thresholds)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_csv, index=False)
    write_json(out_json, {"thresholds": list(thresholds), **density.agreement(df)})


def _flat(prefix: str, d: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{prefix}{k}": v for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def run_summary(stage1_metrics: str, stage2_metrics: str, tables: Sequence[str], rejected: Sequence[str],
                out_csv: str, out_rejected: str) -> None:
    """dice.csv (stage-1 per-class Dice, stage-2 lesion Dice/detection at the crop size, per finding category and
    at full size (full_size_*), vs the brightest-pixel baseline; fallbacks)
    and the dataset's cascade rejections in one table."""
    rejections.combine(list(rejected), out_rejected)
    s1, s2 = json.loads(Path(stage1_metrics).read_text()), json.loads(Path(stage2_metrics).read_text())
    rows = []
    for part in ("val", "test"):
        if part in s1:
            rows += [{"stage": "1 tissue", "part": part, "metric": k, "value": v} for k, v in s1[part].items()]
        if part in s2:
            base = s2[part].get("brightest_baseline", {})
            for stage, d in (("2 lesion", s2[part]), ("2 baseline (brightest pixels)", base)):
                flat = {**_flat("", d), **_flat("full_size_", d.get("full_size", {}))}
                rows += [{"stage": stage, "part": part, "metric": k, "value": v} for k, v in flat.items()]
    preds = pd.concat([pd.read_csv(t, keep_default_na=False) for t in tables], ignore_index=True)
    ok = preds[preds["status"] == "ok"]
    rows.append({"stage": "cascade", "part": "all", "metric": "images", "value": int(len(ok))})
    rows.append({"stage": "cascade", "part": "all", "metric": "fallback_breast_box",
                 "value": int((ok["fallback"].astype(str) == "True").sum())})
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out_csv, index=False, float_format="%.4f")
