"""Parse-time planning of GLAM runs: training-config defaults, exam splits and the figure list (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from mammoflow.core.determinism import stable_hash
from mammoflow.core.errors import ConfigError

VIEWS = ("L-CC", "R-CC", "L-MLO", "R-MLO")

def exam_split(n_exams: int, seed: int, val_fraction: float, test_fraction: float,
               explicit: Mapping[int, str] | None = None) -> list[str]:
    """Split of each exam index (training/validation/test), grouped by exam, from a seeded hash order."""
    order = sorted(range(n_exams), key=lambda i: stable_hash("glam-split", seed, i))
    n_test = int(round(n_exams * test_fraction))
    n_val = int(round(n_exams * val_fraction))
    out = ["training"] * n_exams
    for r, i in enumerate(order):
        out[i] = "test" if r < n_test else ("validation" if r < n_test + n_val else "training")
    for i, s in (explicit or {}).items():
        if s not in ("training", "validation", "test"):
            raise ConfigError(f"glam.train.split: unknown split {s!r} for exam {i}")
        out[int(i)] = s
    return out


def dataset_splits(exams: Sequence[Mapping[str, Any]], seed: int, val_fraction: float, test_fraction: float,
                   explicit: Mapping[int, str] | None = None) -> list[str]:
    """Exam splits: the exam list's own 'split' (test stays test; validation drawn from training) when every
    exam has one, else the seeded hash split; `explicit` {exam_index: split} overrides both."""
    n = len(exams)
    if n and all("split" in e for e in exams):
        out = ["test" if "test" in str(e["split"]) else "training" for e in exams]
        train_idx = sorted((k for k in range(n) if out[k] == "training"),
                           key=lambda k: stable_hash("glam-val", seed, k))
        for k in train_idx[: int(round(n * val_fraction))]:
            out[k] = "validation"
        for i, sp in (explicit or {}).items():
            out[int(i)] = sp
        return out
    return exam_split(n, seed, val_fraction, test_fraction, explicit)


TRAIN_KEYS = ("epochs", "lr", "weight_decay", "batch_size", "pos_weight", "grad_clip", "augment", "val_fraction",
              "test_fraction", "splits", "sparsity", "map_loss", "released", "pretrained_global", "pretrained_local", "score", "dice_threshold",
              "visualize")   # glam.train (defaults and meanings: workflow/schemas/glam.schema.yaml)


OUTPUT_KEYS = ("score", "dice_threshold", "visualize")   # glam.train keys that do not change the training


def training_keys(d: Mapping[str, Any] | None) -> dict[str, Any]:
    """The glam.train keys the training depends on (the train rule's params)."""
    return {k: v for k, v in dict(d or {}).items() if k not in OUTPUT_KEYS}


def train_config(d: Mapping[str, Any] | None, outputs: bool = True) -> dict[str, Any]:
    """The validated glam.train section, checked (unknown or missing keys and bad values are errors); with
    outputs=False the keys that only shape the outputs (OUTPUT_KEYS) may be absent (the train rule's params)."""
    out = dict(d or {})
    unknown = set(out) - set(TRAIN_KEYS)
    missing = [k for k in TRAIN_KEYS if k not in out and (outputs or k not in OUTPUT_KEYS)]
    if unknown:
        raise ConfigError(f"unknown glam.train keys: {sorted(unknown)}")
    if missing:
        raise ConfigError(f"glam.train lacks {missing}; validate it against workflow/schemas/glam.schema.yaml")
    out["augment"] = dict(out["augment"])
    for k in ("epochs", "lr"):
        if len(out[k]) != 3:
            raise ConfigError(f"glam.train.{k}: three values (global, local, joint)")
    if out.get("score", "global") not in ("global", "mean"):
        raise ConfigError("glam.train.score: global | mean")
    return out


def figure_ids(spec: Mapping[str, Any], train: Mapping[str, Any], seed: int, layout: Mapping[str, str]) -> list[str]:
    """Parse-time list of the images that get a figure (exam order, the original's view order).

    Known before anything runs for NYU-format datasets: from the synthetic generator's plan or from the raw
    exam list on disk. Other datasets (exam lists built from tables at run time) get no figures."""
    tcfg = train_config(train)
    exams: list[dict[str, Any]] = []
    if spec.get("format") == "nyu" and "synthetic" in spec:
        from mammoflow.datasets.synthetic.nyu import NYUSynthConfig, image_ids, plan
        for p in plan(NYUSynthConfig.from_config(spec["synthetic"])):
            ids = set(image_ids(p))
            exams.append({"split": p.split, **{v: [f"{p.index}_{v}"] for v in VIEWS if f"{p.index}_{v}" in ids}})
    elif spec.get("format") == "nyu" and Path(layout.get("raw_exam_list", "")).is_file():
        from mammoflow.datasets.nyu import load_exam_list
        exams = [e for e in load_exam_list(layout["raw_exam_list"]) if isinstance(e, dict)]
    else:
        return []
    splits = dataset_splits(exams, seed, float(tcfg["val_fraction"]), float(tcfg["test_fraction"]),
                            {int(k): v for k, v in dict(tcfg["splits"]).items()})
    from mammoflow.core.paths import is_safe_id
    out = []
    for k, e in enumerate(exams):
        if tcfg["visualize"] == "test" and splits[k] != "test":
            continue
        for v in VIEWS:
            ids = e.get(v) or []
            out.extend(i for i in (ids if isinstance(ids, list) else [ids]) if isinstance(i, str) and is_safe_id(i))
    return out


def synthetic_masks(spec: Mapping[str, Any]) -> list[str]:
    """Lesion-mask files a synthetic NYU dataset's generator writes (inputs of the predict job); [] otherwise."""
    if spec.get("format") == "nyu" and "synthetic" in spec:
        from mammoflow.datasets.synthetic.nyu import NYUSynthConfig, expected_outputs
        return expected_outputs(NYUSynthConfig.from_config(spec["synthetic"]), spec["root"])["masks"]
    return []
