"""Binary metrics, thresholds and bootstrap CIs against hand-computed cases; PR and confusion figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mammoflow.evaluation import binary
from mammoflow.evaluation.bootstrap import bootstrap_ci
from mammoflow.evaluation.plots import plot_confusion, plot_pr

Y = np.array([0, 0, 0, 0, 1, 1, 1])
S = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.9, 0.3])


def test_metrics_at_threshold_hand_computed():
    # threshold 0.5: predictions 0 0 0 1 | 1 1 0 -> tp 2, fn 1, fp 1, tn 3
    r = binary.report(Y, S, 0.5, None, n_boot=0, seed=0)
    assert (r["tp"], r["fn"], r["fp"], r["tn"]) == (2, 1, 1, 3)
    assert r["accuracy"]["value"] == pytest.approx(5 / 7)
    assert r["precision"]["value"] == pytest.approx(2 / 3)
    assert r["recall"]["value"] == pytest.approx(2 / 3)
    assert r["specificity"]["value"] == pytest.approx(3 / 4)
    assert r["f1"]["value"] == pytest.approx(2 / 3)
    # AUC by pair counting: positives 0.7, 0.9, 0.3 vs negatives 0.1, 0.4, 0.35, 0.8
    pairs = sum((p > n) + 0.5 * (p == n) for p in S[Y == 1] for n in S[Y == 0])
    assert r["roc_auc"]["value"] == pytest.approx(pairs / 12)
    # average precision: ranks 0.9(+) 0.8(-) 0.7(+) ... 0.3(+ at rank 6) -> (1/1 + 2/3 + 3/6) / 3
    assert r["pr_auc"]["value"] == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)


def test_missing_class_is_reported_not_a_crash():
    r = binary.report([0, 0, 0], [0.2, 0.6, 0.1], 0.5, None, n_boot=20, seed=0)
    assert "no malignant" in r["note"]
    assert math.isnan(r["roc_auc"]["value"]) and math.isnan(r["recall"]["value"])
    assert r["specificity"]["value"] == pytest.approx(2 / 3)


def test_thresholds():
    assert binary.sensitivity_threshold(Y, S, 0.9) == pytest.approx(0.3)  # all three positives at >= 0.3
    assert binary.sensitivity_threshold(Y, S, 0.6) == pytest.approx(0.7)
    t = binary.youden_threshold(Y, S)
    m = binary.at_threshold(t)
    j = m["recall"](Y, S) + m["specificity"](Y, S) - 1
    for u in np.unique(S):
        mu = binary.at_threshold(u)
        assert j >= mu["recall"](Y, S) + mu["specificity"](Y, S) - 1 - 1e-12


def test_bootstrap_groups_resampled_whole():
    y = np.array([0, 0, 1, 1, 0, 1] * 5)
    s = np.linspace(0, 1, len(y))
    groups = np.repeat(np.arange(10), 3)
    seen = []

    def metric(yy, ss):
        seen.append(len(yy))
        return float(ss.mean())

    r = bootstrap_ci(y, s, metric, groups=groups, n=50, seed=3)
    assert all(n % 3 == 0 for n in seen)  # whole patients of 3 samples each
    assert r["lo"] <= r["value"] <= r["hi"] and r["n_valid"] == 50
    assert bootstrap_ci(y, s, metric, groups=groups, n=50, seed=3) == r  # deterministic
    u = np.random.default_rng(0).uniform(size=400)
    wide = bootstrap_ci(np.zeros(10), u[:10], lambda a, b: float(b.mean()), n=200, seed=0)
    narrow = bootstrap_ci(np.zeros(400), u, lambda a, b: float(b.mean()), n=200, seed=0)
    assert wide["hi"] - wide["lo"] > narrow["hi"] - narrow["lo"]


def test_bootstrap_drops_undefined_replicates():
    r = bootstrap_ci([0, 1], [0.2, 0.8], binary.roc_auc, n=100, seed=0)
    assert 0 < r["n_valid"] < 100 and r["value"] == 1.0


def test_figures(tmp_path):
    plot_pr(Y, S, tmp_path / "pr.png", "pr")
    plot_pr(np.zeros(3), np.ones(3), tmp_path / "pr0.png", "no positive")
    plot_confusion(binary.confusion(Y, S, 0.5), tmp_path / "cm.png", "cm", ("benign", "malignant"))
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("pr.png", "pr0.png", "cm.png"))


def test_numpy_counts_equal_sklearn():
    rng = np.random.default_rng(4)
    for _ in range(20):
        y, s = rng.integers(0, 2, 15), rng.uniform(size=15)
        t = float(rng.uniform())
        fast = {k: f(y, s) for k, f in binary.at_threshold(t).items()}
        slow = binary.sklearn_at_threshold(y, s, t)
        for k in binary.THRESHOLD_METRICS:
            assert fast[k] == pytest.approx(slow[k], nan_ok=True), k
