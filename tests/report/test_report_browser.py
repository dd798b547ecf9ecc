"""The HTML report of a small real run, opened in headless Chromium (Debian's chromium + chromedriver).

Builds a tiny run (synthetic VinDr data -> preprocessing -> mask QC and the seed-000 patch classifier;
synthetic NYU exams -> GLAM; the report's own rule graph and dataset table), renders `snakemake --report` (.html and .zip), opens the HTML in the browser
and checks that every pipeline of the run has its category in the sidebar and that every image item of
every category renders (decoded, non-zero size). A screenshot of each category's last image is saved as a
test artefact under $PYTEST_ARTIFACTS (default: tests/artifacts/).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from wfutil import TINY_CONFIG, make_workdir  # tests/ is on sys.path via tests/conftest.py

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.workflow]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("PYTEST_ARTIFACTS", REPO / "tests" / "artifacts"))

CONFIG = {
    "seed": 1999,
    "device": "auto",
    "datasets": {"tiny": copy.deepcopy(TINY_CONFIG["datasets"]["tiny"])},
    "preprocess": {"height": 192, "width": 160, "shard_size": 16},
    "seed000": {
        "datasets": ["tiny"],
        "patches": {"size": 32, "nb_abn": 3, "nb_bkg": 3, "normal_bkg_s10": 3, "min_tissue": 0.2},
        "patch_classifier": {
            "sets": ["s10"], "arch": "resnet18", "pretrained": "none", "overrides": {},
            "stages": [{"name": "all", "train": "all", "epochs": 2, "lr": 1.0e-3}],
            "batch_size": 16, "eval_batch_size": 32, "norm_max_patches": 200, "threads": 1,
        },
        "heatmaps": {"crossfit_folds": 1},
    },
    "glam": {
        "datasets": ["nyu_tiny"], "window": [368, 240], "crop": {"iterations": 40, "buffer_size": 20, "threads": 1},
        "model": {"crop_shape": [32, 32], "global_width": 4, "local_width": 4, "local_blocks": [1, 1, 1, 1]},
        "train": {"epochs": [1, 1, 1], "batch_size": 4, "val_fraction": 0.0, "visualize": "test"},
        "job": {"threads": 1, "mem_mb": 2000, "runtime": 10},
    },
}
CONFIG["datasets"]["nyu_tiny"] = {
    "format": "nyu", "root": "data/nyu_tiny",
    "synthetic": {"seed": 3, "n_studies": 6, "height": 400, "width": 256, "inject_bad": True, "test_fraction": 0.34,
                  "lesion_fraction": 0.8, "malignant_fraction": 0.6},
}
TARGETS = [
    "results/report/rulegraph.svg",
    "results/report/datasets.csv",
    "results/tiny/qc/breast_mask_iou_summary.csv",
    "results/tiny/models/patch_classifier/s10/metrics.json",
    "results/nyu_tiny/glam/metrics.json",
]


def expected_categories(config: dict) -> set[str]:
    """Report categories of the pipelines a config runs."""
    cats = {"Overview", "Preprocessing"}
    if config.get("seed000", {}).get("datasets"):
        cats.add("Seed 000")
    if config.get("glam", {}).get("datasets"):
        cats.add("GLAM")
    return cats


def ensure_browser() -> None:
    """Install chromium + chromedriver with the project's script if missing (root only), else skip."""
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    if os.geteuid() != 0:
        pytest.skip("needs Debian's chromium and chromium-driver: run scripts/install_system_deps.sh browser as root")
    proc = subprocess.run(["bash", str(REPO / "scripts" / "install_system_deps.sh"), "browser"],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"could not install chromium:\n{proc.stderr[-4000:]}", pytrace=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A tiny real run and its rendered report (.html, .zip)."""
    wd = make_workdir(tmp_path_factory.mktemp("report") / "wf", CONFIG)
    smk = [sys.executable, "-m", "snakemake", "--cores", "2"]
    for extra in (["--report", "report.html", "--report-after-run"], ["--report", "report.zip"]):
        proc = subprocess.run(smk + TARGETS + extra, cwd=wd, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"snakemake {' '.join(extra)} failed:\n{proc.stderr[-6000:]}"
    return wd


def test_report_zip_has_entry_point(report):
    with zipfile.ZipFile(report / "report.zip") as z:
        names = z.namelist()
    assert any(n.endswith("/report.html") for n in names), names[:20]
    assert any("rulegraph.svg" in n for n in names), "rule graph missing from the zip report"


def test_report_renders_in_chromium(report):
    ensure_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000"):
        opts.add_argument(arg)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        url = (report / "report.html").as_uri()

        def wait_for(xpath: str, timeout: float = 20.0):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                found = [e for e in driver.find_elements(By.XPATH, xpath) if e.is_displayed()]
                if found:
                    return found
                time.sleep(0.2)
            driver.save_screenshot(str(ARTIFACTS / "report_failure.png"))
            raise AssertionError(f"nothing visible matches {xpath} (screenshot: report_failure.png)")

        driver.get(url)
        results_heading = "//*[translate(normalize-space(text()), 'results', 'RESULTS')='RESULTS']"
        wait_for(results_heading)
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "mammoflow" in body and "Seed 000 runs on: tiny" in body, body[:2000]  # Jinja-rendered description
        assert "System Message" not in body, "reStructuredText error in the workflow description"
        driver.save_screenshot(str(ARTIFACTS / "report_landing.png"))

        # Categories are the sidebar entries after the RESULTS heading.
        heading = wait_for(results_heading)[0]
        shown = {e.text.strip() for e in heading.find_elements(By.XPATH, "following::span") if e.is_displayed()}
        want = expected_categories(CONFIG)
        assert want <= shown, f"categories missing from the report: {sorted(want - shown)} (shown: {sorted(shown)})"

        # Every image item of every expected category: open it with its "eye" button, check it decoded.
        results = driver.execute_script("return results")  # the report's item index: path -> metadata
        categories = driver.execute_script("return categories")  # category -> subcategory -> [paths]
        expected, rendered = set(), set()
        for cat in sorted(want):
            for sub, paths in sorted(categories[cat].items()):
                images = {results[p]["filename"] for p in paths if results[p]["mime_type"].startswith("image/")}
                expected |= {f"{cat}/{sub}/{f}" for f in images}
                if not images:
                    continue
                driver.get(url)
                wait_for(f"//span[normalize-space(text())='{cat}']")[0].click()
                if len(categories[cat]) > 1:
                    wait_for(f"//span[normalize-space(text())='{sub}']")[0].click()
                n_rows = len(wait_for("//a[@iconname='eye']"))
                for k in range(n_rows):
                    wait_for("//a[@iconname='eye']")[k].click()
                    deadline = time.monotonic() + 3
                    while time.monotonic() < deadline:
                        found = [(f, i) for f in images for i in driver.find_elements(
                            By.XPATH, f"//img[contains(@src, 'filename={f};')]") if i.is_displayed()]
                        if found:
                            f, img = found[0]
                            ok, w, h = driver.execute_script(
                                "const i = arguments[0]; return [i.complete, i.naturalWidth, i.naturalHeight];", img)
                            assert ok and w > 50 and h > 50, f"{cat}/{sub}/{f} did not render ({w}x{h})"
                            rendered.add(f"{cat}/{sub}/{f}")
                            break
                        time.sleep(0.2)
                driver.save_screenshot(str(ARTIFACTS / f"report_{cat}_{sub}.png".lower().replace(" ", "_")))
        assert expected == rendered, f"images that did not show: {sorted(expected - rendered)}"
        assert any(n.endswith("/roc.png") for n in rendered) and any(n.endswith("/rulegraph.svg") for n in rendered), rendered
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
