"""Parse-time plan of the seed-004 rules: datasets, backbones, evaluated models, target files (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

CLASSES = ("benign", "malignant")  # label 0, label 1
ENSEMBLE = "ensemble"
BASELINE = "intensity_baseline"
NOCLAHE = "noclahe"
RAW_SUFFIXES = (".dcm", ".dicom", ".png")


class TransferPlan:
    """What the `transfer` section asks for."""

    def __init__(self, section: Mapping[str, Any]):
        self.section = section
        self.datasets = list(section.get("datasets", []))
        self.backbones = list(section.get("backbones", []))

    def models(self) -> list[str]:
        """Evaluated models: the backbones, plus the ensemble when there are at least two."""
        return self.backbones + ([ENSEMBLE] if len(self.backbones) >= 2 else [])

    def model_dir(self, ds: str, model: str) -> str:
        """results/{dataset}/models/transfer/{model}."""
        return f"results/{ds}/models/transfer/{model}"

    def predictions(self, ds: str, model: str) -> list[str]:
        """Prediction CSVs a model's evaluation reads (every backbone's for the ensemble)."""
        if model == ENSEMBLE:
            return [f"{self.model_dir(ds, b)}/predictions.csv" for b in self.backbones]
        if model == BASELINE:
            return [f"results/{ds}/transfer/baseline/predictions.csv"]
        return [f"{self.model_dir(ds, model)}/predictions.csv"]

    def metrics(self, ds: str) -> list[str]:
        """metrics.json of every evaluated model of a dataset."""
        return [f"{self.model_dir(ds, m)}/eval/metrics.json" for m in self.models()]

    def targets(self) -> list[str]:
        """The files of `rule transfer`: summary, figures, Grad-CAM summaries and examples."""
        out = []
        for ds in self.datasets:
            out.append(f"results/{ds}/models/transfer/summary.csv")
            for m in self.models():
                out += [f"{self.model_dir(ds, m)}/eval/{f}" for f in ("roc.png", "pr.png", "confusion_matrix.png")]
            for b in self.backbones:
                out += [f"results/{ds}/gradcam/{b}_pointing.json", f"results/{ds}/gradcam/{b}_examples.png"]
        return out

    def infer_images(self, batch: str) -> list[str]:
        """Raw images (DICOM or PNG, any depth) of a named `infer_inputs` folder, sorted; KeyError naming the batch."""
        folders = dict(self.section.get("infer_inputs", {}))
        if batch not in folders:
            raise KeyError(f"transfer.infer_inputs has no folder named {batch!r} (known: {sorted(folders)})")
        root = Path(folders[batch])
        return sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in RAW_SUFFIXES and p.is_file())
