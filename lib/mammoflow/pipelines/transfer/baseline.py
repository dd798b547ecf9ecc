"""The intensity baseline: logistic regression on intensity statistics of the same model inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mammoflow.evaluation.metrics import write_json
from mammoflow.pipelines.transfer import data
from mammoflow.pipelines.transfer.config import TransferConfig
from mammoflow.pipelines.transfer.evaluate import evaluate


def features(x: np.ndarray) -> np.ndarray:
    """Per input: mean, std and the 5/25/50/75/95th percentiles of the pixels (no shape information)."""
    flat = x.reshape(len(x), -1)
    q = np.percentile(flat, [5, 25, 50, 75, 95], axis=1).T
    return np.column_stack([flat.mean(1), flat.std(1), q])


def baseline_predictions(samples: pd.DataFrame, cfg: TransferConfig) -> pd.DataFrame:
    """Train-split fit, probabilities for every usable sample (same inputs as the CNNs, CLAHE as configured)."""
    x, kept, _ = data.load_arrays(samples, cfg)
    s = samples[kept].reset_index(drop=True)
    f, y = features(x), s["label"].to_numpy().astype(int)
    tr = (s["split"] == "train").to_numpy()
    if len(np.unique(y[tr])) < 2:
        prob = np.full(len(s), float(y[tr].mean()) if tr.any() else 0.5)
    else:
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced"))
        prob = clf.fit(f[tr], y[tr]).predict_proba(f)[:, 1]
    return s[["sample_id", "image_id", "patient_id", "split", "label"]].assign(prob=prob)


def baseline_job(splits_csv: str, cfg: TransferConfig, seed: int, out_predictions: str, out_metrics: str) -> None:
    """Snakemake entry point: predictions and metrics of the intensity baseline."""
    pred = baseline_predictions(pd.read_csv(splits_csv, keep_default_na=False), cfg)
    pred.to_csv(out_predictions, index=False)
    write_json(out_metrics, {"model": "intensity_baseline", **evaluate(pred, cfg.n_boot, cfg.sensitivity, seed)})
