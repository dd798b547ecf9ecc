"""Shared building blocks: code digests, safe loading, path confinement, metrics, shards, determinism."""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mammoflow.datasets import listing as datasets

from mammoflow.evaluation import metrics

from mammoflow.core import paths

from mammoflow.core import safe_pickle
from mammoflow.core.determinism import image_seed, rng_for
from mammoflow.core.errors import ImageRejected
from mammoflow.core.provenance import module_closure

REPO = Path(__file__).resolve().parents[1]


def test_module_closure_follows_imports():
    mods = module_closure("mammoflow.preprocess.canvas")
    assert {"mammoflow.preprocess.canvas", "mammoflow.io.dicom", "mammoflow.preprocess.breast_mask", "mammoflow.core.errors"} <= set(mods)
    assert "mammoflow.datasets.synthetic.vindr" not in mods


def _digest_in(lib: Path, module: str) -> str:
    code = f"from mammoflow.core.provenance import code_digest; print(code_digest({module!r}))"
    env = {**os.environ, "PYTHONPATH": str(lib)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_code_digest_changes_with_imported_code_only(tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(REPO / "lib", lib, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    before = _digest_in(lib, "mammoflow.preprocess.canvas"), _digest_in(lib, "mammoflow.datasets.synthetic.vindr")
    with open(lib / "mammoflow" / "preprocess" / "breast_mask.py", "a") as fh:
        fh.write("\n# changed\n")
    after = _digest_in(lib, "mammoflow.preprocess.canvas"), _digest_in(lib, "mammoflow.datasets.synthetic.vindr")
    assert before[0] != after[0]  # preprocess imports breast_mask
    assert before[1] == after[1]  # the generator does not


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_accepts_builtins_and_refuses_the_rest(tmp_path):
    ok = tmp_path / "ok.pkl"
    safe_pickle.dump([{"L-CC": ["0_L-CC"], "horizontal_flip": "NO", "t": (1, 2.5)}], ok)
    assert safe_pickle.restricted_load(ok)[0]["t"] == (1, 2.5)
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(safe_pickle.UnsafePickle, match="bad.pkl.*posix.system|bad.pkl.*os.system"):
        safe_pickle.restricted_load(bad)


@pytest.mark.parametrize("rel", ["../x.dicom", "/etc/passwd", "images/../../x", "~/x", ""])
def test_paths_outside_the_root_are_refused(tmp_path, rel):
    with pytest.raises(ImageRejected):
        paths.confined(tmp_path, rel)


def test_symlinks_leading_out_of_the_root_are_refused(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "images").mkdir(parents=True)
    outside.mkdir()
    (outside / "x.dicom").write_bytes(b"")
    (root / "images" / "study").symlink_to(outside, target_is_directory=True)
    (root / "images" / "link.dicom").symlink_to(outside / "x.dicom")
    for rel in ("images/study/x.dicom", "images/link.dicom"):
        with pytest.raises(ImageRejected, match="escapes"):
            paths.confined(root, rel)
    (root / "images" / "inner.dicom").symlink_to(root / "images")
    assert paths.confined(root, "images/inner.dicom") == root / "images/inner.dicom"


def test_paths_inside_the_root_are_accepted(tmp_path):
    assert paths.confined(tmp_path, "images/a/b.dicom") == tmp_path / "images/a/b.dicom"
    assert paths.is_safe_id("ab12_-") and not paths.is_safe_id("../x") and not paths.is_safe_id("a.b")


def test_auc_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + y
    s[:20] = np.round(s[:20])  # ties
    pos, neg = s[y == 1], s[y == 0]
    pairwise = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
    assert metrics.roc_auc(y, s) == pytest.approx(pairwise)
    m = metrics.binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.4])
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (1, 1, 1, 1) and m["auc"] == 0.75
    assert np.isnan(metrics.roc_auc([1, 1], [0.2, 0.3]))


def test_shards_are_stable_and_balanced():
    ids = [f"img{i:05d}" for i in range(2000)]
    n = datasets.n_shards(len(ids), 256)
    a = {i: datasets.shard_of(i, n) for i in ids}
    assert n == 8 and a == {i: datasets.shard_of(i, n) for i in reversed(ids)}
    sizes = np.bincount([int(s[1:]) for s in a.values()])
    assert sizes.min() > 200 and sizes.max() < 310


def test_image_seeds_differ_per_image_and_repeat():
    assert image_seed("a", "bkg") == image_seed("a", "bkg") != image_seed("b", "bkg")
    assert rng_for("a", 1).random() == rng_for("a", 1).random()
