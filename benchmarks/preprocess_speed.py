"""Time the preprocessing of one 3518x2800 12-bit DICOM (VinDr's most common size) on one core."""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import cv2  # noqa: E402

from mammoflow.io import png as pngio  # noqa: E402
from mammoflow.core.config import schema_defaults
from mammoflow.preprocess import canvas as pp  # noqa: E402
from mammoflow.io.dicom_writer import write_dicom  # noqa: E402
from mammoflow.datasets.synthetic.phantom import Lesion, render_view  # noqa: E402

def _params(**kw):
    """Preprocessing settings: the schema defaults with overrides."""
    return pp.PreprocessParams.from_config(schema_defaults("config", "preprocess", **kw))


OUT = Path(__file__).resolve().parent / "out"


def main(repeats: int = 5) -> dict:
    cv2.setNumThreads(1)
    image = render_view(3518, 2800, "L", "MLO", [Lesion("mass", 0.5, 0.1, 0.03, 3)], seed=1, shape_seed=2).image
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ts in ("explicit_le", "jpeg2000"):
            row = {"bits_stored": 12, "photometric": "MONOCHROME1", "transfer_syntax": ts, "window": True,
                   "rescale": False, "padding": False, "lut_inverse": False, "defect": "", "image_id": "bench",
                   "study_id": "bench", "series_id": "bench", "render_seed": 0, "laterality": "L",
                   "view_position": "MLO"}
            path = Path(tmp) / f"{ts}.dicom"
            write_dicom(path, image, row)
            params = _params()
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                png, mask, _ = pp.preprocess_image(path, params)
                pngio.write(Path(tmp) / "out.png", png)
                pngio.write(Path(tmp) / "mask.png", mask)
                times.append(time.perf_counter() - t0)
            results[ts] = {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3)}
    report = {"image": "3518x2800, 12-bit MONOCHROME1", "canvas": "1152x896", "threads": 1,
              "includes": "decode + VOI/inversion + resize + breast mask + 16-bit PNG and mask write",
              "results": results, "floor_s": 1.0,
              "pass": results["explicit_le"]["median_s"] <= 1.0}
    OUT.mkdir(exist_ok=True)
    (OUT / "preprocess_speed.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    sys.exit(0 if main()["pass"] else 1)
