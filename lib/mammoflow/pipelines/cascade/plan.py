"""Parse-time plan of the cascade (no torch): which datasets train which stage, file names, targets."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from mammoflow.core.errors import ConfigError

STAGE1 = "results/{ds}/models/cascade/stage1"
STAGE2 = "results/{ds}/models/cascade/stage2"
PRED = "results/{ds}/cascade/predictions"
SUFFIXES = ("tissue_seg", "fgt_mask", "cancer_prob", "visualization")


class CascadePlan:
    """The cascade section resolved against the datasets and their shards."""

    def __init__(self, cfg: Mapping[str, Any], datasets: Mapping[str, Mapping[str, Any]],
                 shards: Callable[[str], Mapping[str, list[str]]]):
        self.cfg, self.shards_of = cfg, shards
        self.tissue = str(cfg["tissue_dataset"])
        self.lesion = list(cfg["lesion_datasets"]) if self.tissue else []
        if self.tissue and self.tissue not in datasets:
            raise ConfigError(f"cascade.tissue_dataset {self.tissue!r} is not a key of datasets")
        if self.tissue and datasets[self.tissue]["format"] != "tissue":
            raise ConfigError(f"cascade.tissue_dataset {self.tissue!r} must have format tissue")
        for d in self.lesion:
            if d not in datasets:
                raise ConfigError(f"cascade.lesion_datasets: {d!r} is not a key of datasets")
            if datasets[d]["format"] not in ("cbis", "inbreast", "miniddsm", "mias"):
                raise ConfigError(f"cascade.lesion_datasets: {d!r} has no lesion masks (format "
                                  f"{datasets[d]['format']})")

    def stage1_checkpoint(self) -> str:
        """The stage-1 model every stage-2 run and every prediction uses."""
        return f"{STAGE1.format(ds=self.tissue)}/best_stage1.pth"

    def shards(self, ds: str) -> list[str]:
        """Shard names of a lesion dataset."""
        return sorted(self.shards_of(ds))

    def shard_files(self, ds: str, shard: str) -> dict[str, list[str]]:
        """The four per-image prediction files of a shard, by suffix."""
        base = PRED.format(ds=ds)
        ids = self.shards_of(ds)[shard]
        return {s: [f"{base}/{i}_{s}.png" for i in ids] for s in SUFFIXES}

    def examples(self, ds: str) -> list[str]:
        """Image ids whose visualisation goes into the report (the first ones by id)."""
        ids = sorted(i for members in self.shards_of(ds).values() for i in members)
        return ids[:int(self.cfg["report_examples"])]

    def targets(self) -> list[str]:
        """Every file the `cascade` target rule asks for."""
        if not self.tissue:
            return []
        out = [self.stage1_checkpoint(), f"{STAGE1.format(ds=self.tissue)}/metrics.json"]
        for d in self.lesion:
            out += [f"{STAGE2.format(ds=d)}/best_stage2.pth", f"{STAGE2.format(ds=d)}/metrics.json",
                    f"results/{d}/cascade/density.csv", f"results/{d}/cascade/density.json",
                    f"results/{d}/cascade/dice.csv"]
        return out
