"""Time `snakemake -n` for the default targets on a VinDr-sized (20,000-image) dataset of placeholder files."""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from mammoflow.core.naming import fmt_num

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out"


def build_dataset(root: Path, n_images: int) -> None:
    """breast-level and finding CSVs with VinDr's columns plus one empty placeholder file per image."""
    rows = []
    for s in range(n_images // 4):
        study = hashlib.md5(f"study{s}".encode()).hexdigest()
        split = "test" if s % 5 == 0 else "training"
        for lat in "LR":
            for view in ("CC", "MLO"):
                rows.append({"study_id": study, "series_id": hashlib.md5(f"se{s}{lat}".encode()).hexdigest(),
                             "image_id": hashlib.md5(f"im{s}{lat}{view}".encode()).hexdigest(),
                             "laterality": lat, "view_position": view, "height": 3518, "width": 2800,
                             "breast_birads": "BI-RADS 1", "breast_density": "DENSITY C", "split": split})
    df = pd.DataFrame(rows)
    root.mkdir(parents=True, exist_ok=True)
    df.to_csv(root / "breast-level_annotations.csv", index=False)
    f = df.copy()
    f["finding_categories"], f["finding_birads"] = "['No Finding']", ""
    for c in ("xmin", "ymin", "xmax", "ymax"):
        f[c] = ""
    f.to_csv(root / "finding_annotations.csv", index=False)
    for study, image in zip(df["study_id"], df["image_id"]):
        d = root / "images" / study
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{image}.dicom").touch()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--floor", type=float, default=30.0)
    ap.add_argument("--workdir", type=Path, help="keep the benchmark work directory here")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = a.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "Snakefile", work / "Snakefile")
        shutil.copytree(REPO / "workflow", work / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(REPO / "profiles", work / "profiles")
        cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        keep = [cfg["cascade"]["tissue_dataset"], *cfg["cascade"]["lesion_datasets"]]
        cfg["datasets"] = {"vindr": {"format": "vindr", "root": "data/vindr"}, **{d: cfg["datasets"][d] for d in keep}}
        cfg["preprocess"] = {"shard_size": 256}
        # every pipeline that can use a VinDr-style dataset runs on it (GLAM's model needs NYU-format exams; the
        # cascade needs lesion masks, which VinDr lacks: it keeps the demo's small synthetic tissue and CBIS sets)
        cfg.setdefault("seed000", {})["datasets"] = ["vindr"]
        cfg.setdefault("glam", {})["datasets"] = []
        cfg["glam"].setdefault("exam_list", {})["datasets"] = ["vindr"]
        cfg["superres"]["datasets"] = ["vindr"]
        cfg["transfer"]["datasets"] = ["vindr"]
        (work / "config").mkdir()
        (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
        batched = json.loads(json.dumps(cfg))
        batched["seed000"]["per_image_files"] = {"mode": "batch"}
        (work / "config" / "batched.yaml").write_text(yaml.safe_dump(batched))
        t0 = time.perf_counter()
        build_dataset(work / "data" / "vindr", a.images)
        t_build = time.perf_counter() - t0
        snake = str(Path(sys.executable).with_name("snakemake"))
        timings = {}
        one = "results/vindr/preprocessed/" + hashlib.md5(b"im0LCC").hexdigest() + ".png"
        grid = ("results/vindr/grids/test/" + hashlib.md5(b"im0LCC").hexdigest()
                + "_grid_scale{s}_fwhm{f}_lam{l}.npy").format(s=fmt_num(cfg["seed000"]["warps"]["scales"][0]),
                                                             f=fmt_num(cfg["seed000"]["warps"]["fwhms"][0]),
                                                             l=fmt_num(cfg["seed000"]["warps"]["lams"][0]))
        runs = {"dry_run_default_targets": ["-n"], "dry_run_one_image_target": [one, "-n"],
                "dry_run_one_grid_on_demand": [grid, "-n"],
                # the same default targets with every leaf file (saliency, overlay, grid) declared by shard jobs
                "dry_run_default_targets_leaf_files_batched": ["-n", "--configfile", "config/batched.yaml"]}
        for name, args in runs.items():
            t0 = time.perf_counter()
            proc = subprocess.run([snake, *args, "--cores", "1", "--quiet", "all"], cwd=work, capture_output=True, text=True)
            timings[name] = round(time.perf_counter() - t0, 2)
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-4000:])
                return 1
        stats = subprocess.run([snake, "-n", "--cores", "1", "--quiet", "rules"], cwd=work, capture_output=True,
                               text=True).stdout
        total = [ln for ln in stats.splitlines() if ln.strip().startswith("total")]
    report = {"images": a.images, "dataset_build_s": round(t_build, 1), **timings,
              "jobs": total[0].split()[-1] if total else "?", "floor_s": a.floor,
              "per_image_files": "auto (on_demand at this size: saliency .npy, overlays and grids made on request)",
              "pass": timings["dry_run_default_targets"] <= a.floor}
    OUT.mkdir(exist_ok=True)
    (OUT / "dag_scale.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
