"""The dataset formats of the foundation: their adapter modules and what preprocessing draws for each."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable

import pandas as pd

from mammoflow.core.errors import ConfigError

# format -> its synthetic writer's config class (nyu is not a foundation format: GLAM reads its exam lists)
FORMATS = {"vindr": "SyntheticSpec", "cbis": "CbisSynthConfig", "miniddsm": "MiniddsmSynthConfig",
           "inbreast": "InbreastSynthConfig", "mias": "MiasSynthConfig", "tissue": "TissueSynthConfig"}


def adapter(fmt: str) -> ModuleType:
    """The adapter module of a dataset format (mammoflow.datasets.<format>)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown dataset format {fmt!r} (one of {', '.join(sorted(FORMATS))})")
    return importlib.import_module(f"mammoflow.datasets.{fmt}")


def canvas_kinds(fmt: str) -> tuple[str, ...]:
    """The maps preprocessing draws on the canvas for a format: 'lesion_masks' and/or 'tissue'."""
    return tuple(getattr(adapter(fmt), "CANVAS_MAPS", ()))


def canvas_maps(fmt: str, root: str, findings_csv: str | None) -> Callable[[str], tuple[Any, Any]] | None:
    """image_id -> (lesion_fn, tissue_fn) for the preprocessing shard job; None when the format has neither."""
    kinds = canvas_kinds(fmt)
    if not kinds:
        return None
    mod = adapter(fmt)
    by_image: dict[str, pd.DataFrame] = {}
    if "lesion_masks" in kinds and findings_csv:
        f = pd.read_csv(findings_csv, dtype=str, keep_default_na=False)
        by_image = {str(k): g for k, g in f.groupby("image_id")}
    empty = pd.DataFrame(columns=["mask_source", "geometry"])

    def maps(image_id: str) -> tuple[Any, Any]:
        lesion = (lambda shape: mod.lesion_mask(root, by_image.get(image_id, empty), shape)) \
            if "lesion_masks" in kinds else None
        tissue = (lambda shape: mod.tissue_labels(root, image_id, shape)) if "tissue" in kinds else None
        return lesion, tissue

    return maps
