"""NYU crop on 3000x2000 16-bit mammograms: the original's scipy iterations vs the exact fast morphology.

Times, single-threaded, (a) the crop values (window location, rightmost/bottommost points, distance) with
`morphology="naive"` (scipy binary_erosion/dilation with iterations=100, as the original calls them) and
`morphology="fast"` (same values), (b) the full masks (eroded, largest component, dilated) both ways, and
checks that every value and every mask is identical. Prints the speed-up; exits 1 below the 5x floor.
Writes benchmarks/out/glam_crop_speed.json."""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from mammoflow.core.config import schema_defaults  # noqa: E402
from mammoflow.pipelines.glam import crop as gc  # noqa: E402
from mammoflow.pipelines.glam import morphology as gm  # noqa: E402
from mammoflow.datasets.synthetic import nyu as sn  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
FLOOR = 5.0


def mammogram(view: str, shape=(3000, 2000), seed: int = 0) -> np.ndarray:
    """A synthetic 12-bit mammogram exactly `shape`, exact-zero background, a burned-in label and a thin line."""
    cfg = sn.NYUSynthConfig.from_config(schema_defaults("synthetic/nyu", seed=seed, height=shape[0], width=shape[1],
                                                        lesion_fraction=1.0))
    p = sn.ExamPlan(0, {"L": "malignant", "R": "benign"}, True, "NO", "training")
    img, _ = sn.render_view(p, view, cfg)
    out = np.zeros(shape, np.uint16)
    h, w = min(shape[0], img.shape[0]), min(shape[1], img.shape[1])
    if view[0] == "R":  # chest wall on the right edge
        out[:h, shape[1] - w:] = img[:h, img.shape[1] - w:]
    else:
        out[:h, :w] = img[:h, :w]
    far = slice(40, 140) if view[0] == "R" else slice(shape[1] - 140, shape[1] - 40)
    out[shape[0] - 120: shape[0] - 60, far] = 4000  # burned-in label
    out[30:34, :] = np.maximum(out[30:34, :], 900)  # thin line across the top
    return out


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, res = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t0)
    return best, res


def masks_naive(img):
    e = gm.erode_naive(img > 0, 100)
    c = gm.largest_component_naive(e)
    return e, c, gm.dilate_naive(c, 100)


def masks_fast(img):
    e, dist = gm.erode_fast(img > 0, 100)
    c, _ = gm.largest_component_fast(e, dist)
    return e, c, gm.dilate_fast(c, 100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5, help="timing repeats (best of)")
    ap.add_argument("--loop", action="store_true", help="also time 100 literal single-iteration scipy passes")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    cases = []
    for view in ("L-CC", "R-MLO"):
        img = mammogram(view)
        mode = "left" if view[0] == "R" else "right"
        t_naive, info_naive = best_time(lambda: gc.crop_info(img, mode, morphology="naive"), max(2, a.repeats // 2))
        t_fast, info_fast = best_time(lambda: gc.crop_info(img, mode, morphology="fast"), a.repeats * 2)
        tm_naive, m_naive = best_time(lambda: masks_naive(img), max(2, a.repeats // 2))
        tm_fast, m_fast = best_time(lambda: masks_fast(img), a.repeats)
        identical_masks = all(np.array_equal(x, y) for x, y in zip(m_naive, m_fast))
        case = {
            "view": view, "shape": list(img.shape), "dtype": str(img.dtype),
            "crop_naive_s": round(t_naive, 4), "crop_fast_s": round(t_fast, 4),
            "crop_speedup": round(t_naive / t_fast, 2),
            "masks_naive_s": round(tm_naive, 4), "masks_fast_s": round(tm_fast, 4),
            "masks_speedup": round(tm_naive / tm_fast, 2),
            "identical_crop_values": info_naive == info_fast, "identical_masks": identical_masks,
            "crop_values": {k: getattr(info_fast, k) for k in ("window_location", "rightmost_points",
                                                                 "bottommost_points", "distance_from_starting_side")},
        }
        if a.loop:
            def loop():
                m = img > 0
                for _ in range(100):
                    m = gm.erode_naive(m, 1)
                c = gm.largest_component_naive(m)
                for _ in range(100):
                    c = gm.dilate_naive(c, 1)
                return c
            case["loop_100_single_passes_s"] = round(best_time(loop, 1)[0], 3)
        cases.append(case)
        print(f"{view}: crop naive {t_naive * 1000:.1f} ms, fast {t_fast * 1000:.1f} ms -> {t_naive / t_fast:.1f}x; "
              f"masks naive {tm_naive * 1000:.1f} ms, fast {tm_fast * 1000:.1f} ms -> {tm_naive / tm_fast:.1f}x; "
              f"identical values {info_naive == info_fast}, identical masks {identical_masks}"
              + (f"; 100 literal passes {case['loop_100_single_passes_s']} s" if a.loop else ""))
    ratio = min(c["crop_speedup"] for c in cases)
    ok = ratio >= FLOOR and all(c["identical_crop_values"] and c["identical_masks"] for c in cases)
    result = {"benchmark": "glam_crop_speed", "floor": FLOOR, "min_crop_speedup": ratio, "pass": ok,
              "threads": 1, "python": sys.version.split()[0], "machine": platform.machine(),
              "cpu_count": os.cpu_count(), "load_avg": os.getloadavg(), "cases": cases}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "glam_crop_speed.json").write_text(json.dumps(result, indent=1, default=list) + "\n")
    print(f"min crop speed-up {ratio:.1f}x (floor {FLOOR}x): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
