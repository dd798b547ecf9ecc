"""Landing-page summary of a run: one row per dataset with image, study, label and rejection counts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SUMMARY_COLUMNS = ["dataset", "images", "studies", "patients", "training_images", "test_images",
                   "positive_images", "findings", "rejected"]


def dataset_summary(dataset: str, images_csv: str | Path, findings_csv: str | Path,
                    rejected_csv: str | Path) -> dict[str, object]:
    """Counts of one dataset's canonical tables."""
    img = pd.read_csv(images_csv, dtype={"image_id": str, "study_id": str, "patient_id": str})
    fnd = pd.read_csv(findings_csv, dtype={"image_id": str})
    rej = pd.read_csv(rejected_csv, dtype={"image_id": str})
    split = img["split"] if "split" in img else pd.Series(dtype=str)
    return {
        "dataset": dataset,
        "images": int(len(img)),
        "studies": int(img["study_id"].nunique()) if "study_id" in img else 0,
        "patients": int(img["patient_id"].nunique()) if "patient_id" in img else 0,
        "training_images": int((split == "training").sum()),
        "test_images": int((split == "test").sum()),
        "positive_images": int(img["label"].sum()) if "label" in img else 0,
        "findings": int(len(fnd)),
        "rejected": int(len(rej)),
    }


def summary_job(datasets: list[str], images: list[str], findings: list[str], rejected: list[str],
                out_csv: str | Path) -> pd.DataFrame:
    """Write the per-dataset summary table (inputs are parallel lists, one entry per dataset)."""
    if not (len(datasets) == len(images) == len(findings) == len(rejected)):
        raise ValueError("datasets, images, findings and rejected must have one entry per dataset")
    rows = [dataset_summary(d, i, f, r) for d, i, f, r in zip(datasets, images, findings, rejected)]
    df = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    df.to_csv(out_csv, index=False)
    return df
