"""Helpers of the dataset-adapter tests: schema defaults of the synthetic blocks, the real-fixture folder."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from mammoflow.core.config import schema_defaults
from mammoflow.preprocess.canvas import PreprocessParams

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("MAMMOFLOW_SHARED_DATA", REPO.parent / "shared" / "data"))


def synth_block(fmt: str, **overrides: Any) -> dict[str, Any]:
    """A dataset's `synthetic:` block with the schema's defaults (workflow/schemas/synthetic/<fmt>.schema.yaml)."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "synthetic" / f"{fmt}.schema.yaml").read_text())
    unknown = set(overrides) - set(schema["properties"])
    assert not unknown, f"not in the {fmt} schema: {unknown}"
    return schema_defaults(f"synthetic/{fmt}", **overrides)


def preprocess_params(**overrides: Any) -> PreprocessParams:
    """Preprocessing settings with the schema's defaults."""
    return PreprocessParams.from_config(schema_defaults("config", "preprocess", **overrides))


def shared(sub: str) -> Path:
    """A folder of the real fixtures; the test is skipped (with the reason) when it is absent."""
    path = SHARED_DATA / sub
    if not path.is_dir():
        pytest.skip(f"real fixture {path} is absent (set MAMMOFLOW_SHARED_DATA or provide ../shared/data)")
    return path


def written_tree(factory: Any, fmt: str, **overrides: Any) -> tuple[Any, Path]:
    """A synthetic tree of one format written under a pytest tmp_path_factory folder: (its config, its root)."""
    from mammoflow.datasets import listing

    cfg = listing.synth_config(fmt, synth_block(fmt, **overrides))
    root = factory.mktemp(fmt) / f"{fmt}_synth"
    listing.synthetic(fmt).write(cfg, root)
    return cfg, root
