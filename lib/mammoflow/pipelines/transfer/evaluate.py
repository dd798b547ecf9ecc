"""Evaluation of a backbone or the ensemble: thresholds from validation, test metrics with patient CIs, figures."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mammoflow.evaluation import binary
from mammoflow.evaluation.metrics import write_json
from mammoflow.evaluation.plots import plot_confusion, plot_pr, plot_roc
from mammoflow.pipelines.transfer.plan import CLASSES

SUMMARY_METRICS = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "specificity", "f1")


def evaluate(pred: pd.DataFrame, n_boot: int, sensitivity: float, seed: int) -> dict[str, object]:
    """Test metrics at the validation-chosen (Youden) threshold and at the threshold of fixed validation sensitivity."""
    val, test = pred[pred["split"] == "val"], pred[pred["split"] == "test"]
    src = val if len(val) else pred[pred["split"] == "train"]
    thresholds = {"youden": binary.youden_threshold(src["label"], src["prob"]),
                  f"sensitivity_{sensitivity:g}": binary.sensitivity_threshold(src["label"], src["prob"], sensitivity)}
    out: dict[str, object] = {"n_test": int(len(test)), "threshold_source": "val" if len(val) else "train",
                              "operating_points": {}}
    for name, thr in thresholds.items():
        out["operating_points"][name] = binary.report(test["label"], test["prob"], thr, test["patient_id"],
                                                      n_boot, seed)
    return out


def figures(pred: pd.DataFrame, metrics: dict, name: str, outputs: dict[str, str]) -> None:
    """roc.png, pr.png and confusion_matrix.png (at the validation-chosen threshold) of the test split."""
    test = pred[pred["split"] == "test"]
    y, s = test["label"].to_numpy(), test["prob"].to_numpy()
    op = metrics["operating_points"]["youden"]
    auc = op["roc_auc"]
    plot_roc(y, s, outputs["roc"], f"{name}: AUC {auc['value']:.3f} [{auc['lo']:.3f}, {auc['hi']:.3f}]")
    ap = op["pr_auc"]
    plot_pr(y, s, outputs["pr"], f"{name}: PR-AUC {ap['value']:.3f}")
    plot_confusion(op, outputs["confusion"], f"{name} (thr {op['threshold']:.2f})", CLASSES)


def ensemble(preds: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Mean probability of the backbones over the samples they all scored."""
    keys = ["sample_id", "image_id", "patient_id", "split", "label"]
    merged = preds[0][keys + ["prob"]].rename(columns={"prob": "p0"})
    for i, p in enumerate(preds[1:], 1):
        merged = merged.merge(p[keys + ["prob"]].rename(columns={"prob": f"p{i}"}), on=keys, how="inner")
    cols = [f"p{i}" for i in range(len(preds))]
    return merged[keys].assign(prob=merged[cols].mean(axis=1).to_numpy())


def eval_job(prediction_csvs: Sequence[str], name: str, n_boot: int, sensitivity: float, seed: int,
             outputs: dict[str, str]) -> None:
    """Snakemake entry point: metrics.json and figures of one backbone (one CSV) or the ensemble (several)."""
    preds = [pd.read_csv(p, keep_default_na=False) for p in prediction_csvs]
    pred = preds[0] if len(preds) == 1 else ensemble(preds)
    if len(preds) > 1 and "predictions" in outputs:
        pred.to_csv(outputs["predictions"], index=False)
    m = {"model": name, **evaluate(pred, n_boot, sensitivity, seed)}
    write_json(outputs["metrics"], m)
    figures(pred, m, name, outputs)


def _num(v: object) -> float:
    """A metric value rounded for the table; nan for an undefined one (null in metrics.json)."""
    return round(float(v), 4) if v is not None and v == v else float("nan")


def summary_rows(metrics: dict) -> list[dict[str, object]]:
    """One row per operating point: value and CI of every metric."""
    rows = []
    for op, r in metrics["operating_points"].items():
        row: dict[str, object] = {"model": metrics["model"], "operating_point": op, "threshold": round(r["threshold"], 6),
                                  "n_test": r["n"], "note": r.get("note", "")}
        for k in SUMMARY_METRICS:
            row[k], row[f"{k}_lo"], row[f"{k}_hi"] = (_num(r[k][b]) for b in ("value", "lo", "hi"))
        rows.append(row)
    return rows


def summary_job(metric_jsons: Sequence[str], baseline_json: str | None, out_csv: str) -> None:
    """Snakemake entry point: summary.csv comparing the backbones, the ensemble and the intensity baseline."""
    import json

    rows = [r for p in metric_jsons for r in summary_rows(json.loads(Path(p).read_text()))]
    if baseline_json:
        rows += summary_rows(json.loads(Path(baseline_json).read_text()))
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out_csv, index=False)
