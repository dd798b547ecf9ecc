"""Parse-time plan of seed 000 (no torch): which images get heatmaps, the sweep and the per-image file names."""

from __future__ import annotations

import itertools
import re
from typing import Any, Callable, Mapping

import pandas as pd

from mammoflow.core.naming import fmt_num

PNG = "results/{ds}/preprocessed/{image_id}.png"
HEAT = "results/{ds}/heatmaps/{split}/{image_id}_scale{scale}_fwhm{fwhm}.npy"
OVERLAY = "results/{ds}/overlays/{split}/{image_id}_overlay_scale{scale}_fwhm{fwhm}.png"
WARP = "results/{ds}/warps/{split}/{image_id}_warp_scale{scale}_fwhm{fwhm}_lam{lam}.png"
GRID = "results/{ds}/grids/{split}/{image_id}_grid_scale{scale}_fwhm{fwhm}_lam{lam}.npy"
CONTROL_WARP = "results/{ds}/control_warps/{control}/{split}/{image_id}_warp_scale{scale}_fwhm{fwhm}_lam{lam}.png"
PATCH_SPLITS = ("training", "test")
PATCH_SETS = ("s", "s10")


def parse_run(name: str) -> dict[str, Any]:
    """The settings a whole-image run name stands for: control, scale, fwhm, lam (None when absent), shuffled."""
    m = re.fullmatch(r"(?:(oracle|random_heat)_)?scale([^_]+)_fwhm([^_]+)_lam([^_]+)", name)
    if m:
        return {"control": m.group(1), "scale": m.group(2), "fwhm": m.group(3), "lam": m.group(4), "shuffled": False}
    if name not in ("unwarped", "shuffled"):
        raise ValueError(f"not a whole-image run name: {name!r}")
    return {"control": None, "scale": None, "fwhm": None, "lam": None, "shuffled": name == "shuffled"}


class NusPlan:
    """Seed-000 listing helpers for one validated config; results are computed once per dataset."""

    def __init__(self, cfg: Mapping[str, Any], listing: Callable[[str], pd.DataFrame]):
        self.cfg = cfg
        self.listing = listing
        self.scales = [fmt_num(v) for v in cfg["warps"]["scales"]]
        self.fwhms = [fmt_num(v) for v in cfg["warps"]["fwhms"]]
        self.lams = [fmt_num(v) for v in cfg["warps"]["lams"]]
        ctl = cfg["warps"]["controls"]
        self.control_kinds = list(ctl["kinds"])
        self.control_point = {k: fmt_num(ctl[k]) for k in ("scale", "fwhm", "lam")}
        self._items: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self._examples: dict[str, set[str]] = {}
        self._batched: dict[str, bool] = {}

    def datasets(self) -> list[str]:
        """Datasets seed 000 runs on."""
        return list(self.cfg["datasets"])

    def items(self, ds: str, shard: str) -> list[tuple[str, str]]:
        """(image_id, split) of a shard's images in the heatmap splits, sorted by id."""
        if ds not in self._items:
            df = self.listing(ds)
            rows = df[(df["shard"] != "") & df["split"].isin(self.cfg["heatmaps"]["splits"])].sort_values("image_id")
            by_shard: dict[str, list[tuple[str, str]]] = {}
            for i, sp, sh in zip(rows["image_id"], rows["split"], rows["shard"]):
                by_shard.setdefault(sh, []).append((i, sp))
            self._items[ds] = by_shard
        return self._items[ds].get(shard, [])

    def shards(self, ds: str) -> list[str]:
        """Shards of a dataset that hold at least one image of the heatmap splits."""
        self.items(ds, "")
        return sorted(self._items[ds])

    def paths(self, tmpl: str, ds: str, shard: str, **sweep: list[str]) -> list[str]:
        """tmpl for every image of a shard and every combination of the sweep lists (expand's order)."""
        keys = list(sweep)
        combos = [dict(zip(keys, c)) for c in itertools.product(*(sweep[k] for k in keys))]
        return [tmpl.format(ds=ds, split=sp, image_id=i, **c) for i, sp in self.items(ds, shard) for c in combos]

    def pngs(self, ds: str, shards: list[str] | None = None) -> dict[str, str]:
        """image_id -> canvas PNG of the given shards (all heatmap shards by default)."""
        return {i: PNG.format(ds=ds, image_id=i) for s in (shards or self.shards(ds)) for i, _ in self.items(ds, s)}

    def control_warps(self, ds: str, shard: str) -> list[str]:
        """The control-warp PNGs of a shard's images, every control kind, at the control point."""
        one = {k: [v] for k, v in self.control_point.items()}
        return [p for kind in self.control_kinds
                for p in self.paths(CONTROL_WARP.replace("{control}", kind), ds, shard, **one)]

    def control_runs(self) -> list[str]:
        """Names of the whole-image control runs: {kind}_scale{S}_fwhm{F}_lam{L}."""
        c = self.control_point
        return [f"{k}_scale{c['scale']}_fwhm{c['fwhm']}_lam{c['lam']}" for k in self.control_kinds]

    def patch_checkpoint(self, ds: str) -> str:
        """The patch classifier that produces the heatmaps."""
        return f"results/{ds}/models/patch_classifier/{self.cfg['heatmaps']['patch_set']}/best.pt"

    def crossfit_folds(self) -> int:
        """k of the cross-fitted training heatmaps (1 = one model maps every image)."""
        return int(self.cfg["heatmaps"]["crossfit_folds"])

    def folds_table(self, ds: str) -> str:
        """folds.csv: the study-grouped cross-fitting fold of every training image."""
        return f"results/{ds}/models/patch_classifier/folds.csv"

    def fold_checkpoints(self, ds: str) -> list[str]:
        """The k fold patch classifiers of the heatmap patch set (none when crossfit_folds is 1)."""
        k, ps = self.crossfit_folds(), self.cfg["heatmaps"]["patch_set"]
        return [f"results/{ds}/models/patch_classifier/{ps}_fold{j}/best.pt" for j in range(k)] if k > 1 else []

    def heatmap_models(self, ds: str, shard: str) -> dict[str, Any]:
        """Models (and folds.csv) a heatmap shard job reads: the full one, the fold models for training images."""
        out: dict[str, Any] = {"checkpoint": self.patch_checkpoint(ds)}
        if self.fold_checkpoints(ds) and any(sp == "training" for _, sp in self.items(ds, shard)):
            out.update(folds=self.folds_table(ds), fold_checkpoints=self.fold_checkpoints(ds))
        return out

    def examples(self, ds: str, n: int = 2) -> set[str]:
        """The first test image ids of a dataset (their overlays and warps go into the report)."""
        if ds not in self._examples:
            ids = sorted(i for s in self.shards(ds) for i, sp in self.items(ds, s) if sp == "test")
            self._examples[ds] = set(ids[:n])
        return self._examples[ds]

    def leaf_batched(self, ds: str) -> bool:
        """True if the shard jobs write the dataset's saliency, overlay and grid files (per_image_files)."""
        if ds not in self._batched:
            pf = self.cfg["per_image_files"]
            if pf["mode"] == "auto":
                n = sum(len(self.items(ds, s)) for s in self.shards(ds))
                self._batched[ds] = n <= pf["batch_max_images"]
            else:
                self._batched[ds] = pf["mode"] == "batch"
        return self._batched[ds]

    def targets(self) -> list[str]:
        """What the seed-000 target builds: patch CSVs and classifiers, one output per saliency and warp shard
        job (listing every per-image file would cost a DAG lookup per file at VinDr scale; for on-demand
        datasets the report examples' files), the heatmap QC and the whole-image summary."""
        out: list[str] = []
        for ds in self.datasets():
            out += [f"results/{ds}/patches/{sp}/{st}.csv" for sp in PATCH_SPLITS for st in PATCH_SETS]
            out += [f"results/{ds}/models/patch_classifier/{ps}/metrics.json"
                    for ps in self.cfg["patch_classifier"]["sets"]]
            sweep = dict(scale=self.scales, fwhm=self.fwhms)
            if self.leaf_batched(ds):
                out += [self.paths(HEAT, ds, s, **sweep)[0] for s in self.shards(ds)]
            else:
                ex = self.examples(ds)
                for s in self.shards(ds):
                    for tmpl in (HEAT, OVERLAY):
                        out += [p for p in self.paths(tmpl, ds, s, **sweep)
                                if any(f"/{i}_" in p for i in ex)]
            out.append(f"results/{ds}/heatmaps/evaluation.json")
            out += [f"results/{ds}/warps/shards/{s}.csv" for s in self.shards(ds)]
            out.append(f"results/{ds}/models/whole_image/summary.csv")
        return out
