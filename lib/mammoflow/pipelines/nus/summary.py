"""The whole-image summary: test AUC of every run with study-level bootstrap CIs and paired delta AUC vs unwarped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mammoflow.evaluation.bootstrap import bootstrap_ci
from mammoflow.evaluation.metrics import roc_auc

METRICS = ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1")


ORDER = ("unwarped", "warped", "oracle", "random_heat", "shuffled")


def _kind(m: dict) -> str:
    """The input kind of a run: unwarped | warped | oracle | random_heat | shuffled."""
    if m["run"] in ("unwarped", "shuffled"):
        return m["run"]
    return m.get("control") or "warped"


def _predictions(metrics_path: str) -> pd.DataFrame:
    p = Path(metrics_path).with_name("predictions.csv")
    df = pd.read_csv(p, dtype={"image_id": str, "study_id": str}, keep_default_na=False)
    if "study_id" not in df:
        df["study_id"] = df["image_id"]
    return df


def _delta_auc(y: np.ndarray, s: np.ndarray) -> float:
    return roc_auc(y, s[:, 0]) - roc_auc(y, s[:, 1])


def summarize(metrics_paths: Sequence[str], out_csv: str, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """summary.csv: one row per run (unwarped, warped, then the controls: oracle and random-heat warps, shuffled
    labels) with test metrics, the AUC's 95 % bootstrap CI (studies resampled whole) and, paired on the same test
    images, AUC - unwarped AUC with its CI. Runs under a seeds/ folder (the same run trained with another seed) only
    add to n_seeds, auc_seed_mean and auc_seed_sd of their run's row."""
    primary = [p for p in metrics_paths if "seeds" not in Path(p).parts]
    seed_aucs: dict[str, list[float]] = {}
    for p in metrics_paths:
        m = json.loads(Path(p).read_text())
        auc = m["test"].get("auc")
        seed_aucs.setdefault(m["run"], []).append(float("nan") if auc is None else float(auc))
    rows, preds = [], {}
    for p in primary:
        m = json.loads(Path(p).read_text())
        t = m["test"]
        pr = _predictions(p)
        preds[m["run"]] = pr
        ci = bootstrap_ci(pr["label"].to_numpy(), pr["score"].to_numpy(), roc_auc, pr["study_id"], n_boot, seed)
        rows.append({"run": m["run"], "input": _kind(m), "scale": m.get("scale") or "",
                     "fwhm": m.get("fwhm") or "", "lam": m.get("lam") or "",
                     **{k: t.get(k) for k in METRICS}, "auc_ci_lo": ci["lo"], "auc_ci_hi": ci["hi"],
                     "n_test": m["n_test"], "n_test_studies": int(pr["study_id"].nunique()),
                     "n_seeds": len(seed_aucs[m["run"]]), "auc_seed_mean": float(np.mean(seed_aucs[m["run"]])),
                     "auc_seed_sd": float(np.std(seed_aucs[m["run"]], ddof=1)) if len(seed_aucs[m["run"]]) > 1
                     else float("nan")})
    df = pd.DataFrame(rows)
    base = preds.get("unwarped")
    deltas = []
    for r in rows:
        if base is None:
            deltas.append((float("nan"),) * 3)
            continue
        j = preds[r["run"]].merge(base, on=["image_id", "study_id", "label"], suffixes=("", "_base"))
        s = np.stack([j["score"].to_numpy(), j["score_base"].to_numpy()], 1)
        d = bootstrap_ci(j["label"].to_numpy(), s, _delta_auc, j["study_id"], n_boot, seed)
        deltas.append((d["value"], d["lo"], d["hi"]))
    df["auc_minus_unwarped"], df["delta_ci_lo"], df["delta_ci_hi"] = zip(*deltas) if deltas else ((), (), ())
    df["bootstrap"] = f"{n_boot} study-level resamples, percentile 95 % CI, seed {seed}"
    order = {k: i for i, k in enumerate(ORDER)}
    df = df.sort_values("input", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_csv, index=False, float_format="%.6g")
    return df
