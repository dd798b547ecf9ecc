"""CLAHE on vs off, side by side: test ROC-AUC with patient-level 95 % CIs of one backbone (seed 004).

Usage:
  PYTHONPATH=lib python benchmarks/transfer_clahe.py --splits results/cbis_synth/transfer/splits.csv
  PYTHONPATH=lib python benchmarks/transfer_clahe.py --fixture   # the tests' round-vs-spiculated canvases
Writes benchmarks/out/transfer_clahe_<name>.csv (model, clahe, AUC, CI, intensity baseline, Grad-CAM pointing
game on the malignant test images and its centre-of-breast baseline).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "transfer"))
sys.path.insert(0, str(REPO / "benchmarks"))

from mammoflow.core.config import schema_defaults  # noqa: E402
import torch  # noqa: E402

from mammoflow.pipelines.transfer import baseline, evaluate, gradcam, models, train  # noqa: E402
from mammoflow.pipelines.transfer.config import TransferConfig  # noqa: E402
from mammoflow.pipelines.transfer.data import build_samples  # noqa: E402
from bench_rows import auc_fields, write_rows  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits")
    ap.add_argument("--fixture", action="store_true")
    ap.add_argument("--backbone", default="efficientnet_b0")
    ap.add_argument("--seed", type=int, default=1999)
    a = ap.parse_args()
    section = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["transfer"]
    cfg0 = schema_defaults("transfer", **{k: v for k, v in section.items() if k != "datasets"})
    work = Path(tempfile.mkdtemp(prefix="transfer_clahe_"))
    if a.fixture:
        from transfer_synth import write_tables

        ic, fc = write_tables(work, n_patients=60, h=160, w=128, seed=7)
        cfg0 = {**cfg0, "input_size": 48, "min_crop": 32}
        samples, _ = build_samples(pd.read_csv(ic), pd.read_csv(fc), TransferConfig.from_config(cfg0), a.seed)
        name = "fixture"
    else:
        samples = pd.read_csv(a.splits, keep_default_na=False,
                              na_values={c: [""] for c in ("bx0", "by0", "bx1", "by1")})
        name = Path(a.splits).parts[-3]
    rows = []
    for clahe in (True, False):
        cfg = TransferConfig.from_config({**cfg0, "clahe": clahe})
        model_, pred, _ = train.fit_backbone(samples, cfg, a.backbone, work / f"clahe{int(clahe)}", a.seed)
        factor = models.load(work / f"clahe{int(clahe)}" / "best.pt", a.backbone)[1]["canvas_factor"]
        table, _ = gradcam.run(samples[samples["split"] == "test"], model_, a.backbone, cfg, factor, work / f"cam{int(clahe)}",
                               torch.device("cpu"))
        point = gradcam.pointing_summary(table)
        for model, p in ((a.backbone, pred), ("intensity_baseline", baseline.baseline_predictions(samples, cfg))):
            op = evaluate.evaluate(p, cfg.n_boot, cfg.sensitivity, a.seed)["operating_points"]["youden"]
            auc = op["roc_auc"]
            rows.append({"data": name, "model": model, "clahe": clahe, **auc_fields(auc), "n_test": op["n"],
                         "pointing_game": round(point["pointing_game"], 4) if model != "intensity_baseline" else "",
                         "centre_baseline": round(point["centre_baseline"], 4) if model != "intensity_baseline" else "",
                         "n_malignant_images": point["n_malignant_images"]})
            print(rows[-1], flush=True)
    print(f"wrote {write_rows(rows, f'transfer_clahe_{name}')}")


if __name__ == "__main__":
    main()
