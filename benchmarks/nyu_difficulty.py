"""Global-intensity baseline AUCs (evaluation.difficulty) of a generated NYU-layout tree (GLAM's input, which
skips the foundation and so has no qc/difficulty.json): lesion vs normal breast images and malignant vs benign
lesion images. Run after `make demo`: PYTHONPATH=lib python benchmarks/nyu_difficulty.py [data/nyu_synth]"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from mammoflow.datasets.nyu import load_exam_list
from mammoflow.evaluation import difficulty as dif
from mammoflow.io import png

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ("L-CC", "L-MLO", "R-CC", "R-MLO")


def main() -> int:
    tree = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "data" / "nyu_synth")
    exams = load_exam_list(tree / "exam_list_before_cropping.pkl")  # restricted unpickling
    feats, lesion, malignant = [], [], []
    for ex in exams:
        for v in VIEWS:
            for name in ex.get(v, []):
                path = tree / "images" / f"{name}.png"
                try:
                    img = png.read(path).astype(np.float64)
                except Exception:  # the injected bad files
                    continue
                side = "left" if v.startswith("L") else "right"
                ben, mal = ex["cancer_label"][f"{side}_benign"], ex["cancer_label"][f"{side}_malignant"]
                feats.append(dif.intensity_features(img, img > 0))
                lesion.append(int(ben or mal))
                malignant.append(int(mal) if (ben or mal) else -1)
    x, les, mal = np.array(feats), np.array(lesion), np.array(malignant)
    out = {"tree": str(tree), "n_images": int(len(x)),
           "lesion_vs_normal": {"auc": dif.baseline_auc(x, les), "n_positive": int(les.sum()),
                                "n_negative": int((les == 0).sum())},
           "malignant_vs_benign": {"auc": dif.baseline_auc(x[mal >= 0], mal[mal >= 0]),
                                   "n_positive": int((mal == 1).sum()), "n_negative": int((mal == 0).sum())}}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
