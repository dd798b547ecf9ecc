"""Seed-000 patch models side by side (plain ResNet vs tiled): patch AUC, heatmap arg-max hit rate, FROC points.

Reads two finished seed-000 result trees of the SAME dataset, one built with `patch_classifier.tiled: false`
(the default) and one with `tiled: true`, e.g.

    snakemake --cores 2 results/vindr_synth/heatmaps/evaluation.json                     # plain
    snakemake --cores 2 --config ... -d /tmp/tiled results/vindr_synth/heatmaps/evaluation.json   # tiled
    .venv/bin/python benchmarks/nus_plain_vs_tiled.py --plain results/vindr_synth --tiled /tmp/tiled/results/vindr_synth

and writes benchmarks/out/nus_plain_vs_tiled.json: per model the test patch AUC (patch_classifier metrics),
the arg-max hit rate (heatmaps/evaluation.json) and lesion sensitivity at 0.5/1/2/4 false positives per test
image (candidates: the 10 highest local maxima of each probability map; a candidate hits a finding when its
window centre lies in the finding box dilated by the evaluation's dilate_px). Dense-vs-sliding speed at
1152 x 896: benchmarks/dense_vs_sliding.py --plain.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from mammoflow.evaluation.froc import froc_points, peaks
from mammoflow.io import probmaps
from mammoflow.pipelines.nus.windows import WindowGrid

FPS = (0.5, 1.0, 2.0, 4.0)


def froc_of(root: Path, dilate: float, split: str = "test", max_peaks: int = 10) -> dict[str, float]:
    """FROC points of the heatmaps of one result tree."""
    tables = sorted((root / "heatmaps" / "shards").glob("s[0-9][0-9][0-9].csv"))
    t = pd.concat([pd.read_csv(p, keep_default_na=False, dtype={"image_id": str}) for p in tables])
    t = t[(t["status"] == "ok") & (t["split"] == split)]
    fnd = pd.read_csv(root / "tables" / "findings.csv", dtype={"image_id": str})
    scores, lesion_of, n_les = [], [], []
    for _, r in t.iterrows():
        prob = probmaps.read(root / "heatmaps" / "shards" / Path(str(r["prob_path"])).name, r["image_id"])
        geo = WindowGrid(float(r["origin_y"]), float(r["origin_x"]),
                         *(int(r[k]) for k in ("stride", "rows", "cols", "height", "width", "patch_size")))
        boxes = fnd[fnd["image_id"] == r["image_id"]].reset_index(drop=True)
        s, l = [], []
        for i, j, v in peaks(prob, max_peaks):
            y, x = geo.centre(i, j)
            inside = np.flatnonzero((boxes["rxmin"] - dilate <= x) & (x <= boxes["rxmax"] + dilate)
                                    & (boxes["rymin"] - dilate <= y) & (y <= boxes["rymax"] + dilate))
            s.append(v)
            l.append(int(inside[0]) if len(inside) else -1)
        scores.append(s); lesion_of.append(l); n_les.append(len(boxes))
    return {f"sensitivity_at_{f:g}_fp": v for f, v in froc_points(scores, lesion_of, n_les, FPS).items()}


def summary(root: Path) -> dict:
    """Patch AUC, arg-max hit rate and FROC points of one result tree."""
    ev = json.loads((root / "heatmaps" / "evaluation.json").read_text())
    pcs = sorted((root / "models" / "patch_classifier").glob("*/metrics.json"))
    auc = {p.parent.name: json.loads(p.read_text())["test"]["auc"] for p in pcs}
    out = {"patch_auc": auc, "argmax_in_box_rate": ev.get("argmax_in_box_rate"),
           "lesion_images": ev.get("lesion_images"), "dense_vs_sliding": ev.get("dense_vs_sliding", {}),
           **froc_of(root, float(ev.get("dilate_px", 32)))}
    out["dense_vs_sliding"].pop("per_image", None)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plain", required=True, type=Path, help="results/{dataset} of a tiled: false run")
    ap.add_argument("--tiled", required=True, type=Path, help="results/{dataset} of a tiled: true run")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/nus_plain_vs_tiled.json"))
    a = ap.parse_args(argv)
    res = {"plain": summary(a.plain), "tiled": summary(a.tiled)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
