"""Settings of the `transfer` config section (defaults in workflow/schemas/transfer.schema.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from mammoflow.core.config import from_mapping


@dataclass(frozen=True)
class TransferConfig:
    """Knobs of the seed-004 pipeline."""

    inputs: str
    margin: float
    min_crop: int
    input_size: int
    label_source: str
    birads_malignant_min: int
    val_fraction: float
    test_fraction: float
    clahe: bool
    clahe_clip: float
    clahe_tiles: int
    hflip: float
    rotate: float
    zoom: float
    backbones: tuple
    pretrained: str
    stages: tuple
    optimizer: str
    weight_decay: float
    batch_size: int
    samples_per_epoch: int
    balance: str
    patience: int
    recalibrate_bn: bool
    n_boot: int
    sensitivity: float
    gradcam_max_images: int
    gradcam_alpha: float
    gradcam_mode: str
    gradcam_step: float
    background_negatives: float
    eval_batch_size: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> "TransferConfig":
        """Build from the validated section (unknown keys such as threads ignored)."""
        return from_mapping(cls, cfg, "transfer", backbones=tuple, stages=lambda v: tuple(dict(s) for s in v))

    def image_settings(self) -> dict[str, Any]:
        """What decides the model's input pixels (for fingerprints)."""
        return {k: getattr(self, k) for k in ("inputs", "margin", "min_crop", "input_size", "clahe", "clahe_clip",
                                              "clahe_tiles")}
