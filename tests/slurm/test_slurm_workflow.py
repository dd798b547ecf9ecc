"""The workflow on a real (local, single-node, fake-GPU) SLURM cluster through the project's SLURM profile.

A small real target set (synthetic VinDr data -> preprocessing shards -> tables -> patch shards -> patch
sets -> patch classifier training, a gpu=1 rule) runs once with `--executor slurm --workflow-profile
profiles/slurm` and once locally. Asserts: every job completed on SLURM; jobs of gpu=1 rules were allocated
a GPU (sacct AllocTRES gres/gpu=1) on the gpu partition, all other jobs none, on the cpu partition; the
outputs of both runs are byte-identical.
"""

from __future__ import annotations

import copy
import filecmp
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import wfutil  # tests/ is on sys.path via tests/conftest.py
from wfutil import TINY_CONFIG

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.workflow]

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = os.environ.get("LOCAL_SLURM_ACCOUNT", "testacct")
SLURM_TIMEOUT = 420  # seconds for the SLURM run (SIGINT, then SIGKILL 20 s later)
TARGETS = ["results/tiny/models/patch_classifier/s10/metrics.json"]
# Wall-clock artefacts (TensorBoard event files carry timestamps and the host name) are not compared.
NOT_COMPARED = re.compile(r"(^|/)tensorboard(/|$)")

CONFIG = {
    "seed": 1999,
    "device": "auto",
    "datasets": {"tiny": copy.deepcopy(TINY_CONFIG["datasets"]["tiny"])},
    "preprocess": {"height": 192, "width": 160, "shard_size": 16},  # 2 shards: both run at once
    "seed000": {
        "datasets": ["tiny"],
        "patches": {"size": 32, "nb_abn": 3, "nb_bkg": 3, "normal_bkg_s10": 3, "min_tissue": 0.2,
                    "mem_mb": 1000, "runtime": 10},
        "patch_classifier": {
            "sets": ["s10"], "arch": "resnet18", "pretrained": "none", "overrides": {},
            "stages": [{"name": "all", "train": "all", "epochs": 2, "lr": 1.0e-3}],
            "batch_size": 16, "eval_batch_size": 32, "norm_max_patches": 200, "cache_mb": 256,
            "threads": 1, "mem_mb": 2000, "runtime": 15,
        },
        "heatmaps": {"crossfit_folds": 1},
    },
    "glam": {"datasets": []},
}


def make_workdir(path: Path) -> Path:
    """A copy of the workflow (Snakefile, workflow/, profiles/) with the tiny config."""
    return wfutil.make_workdir(path, CONFIG)


def set_account(workdir: Path, account: str) -> None:
    """Fill in the profile's slurm_account placeholder, as a user of the profile does."""
    prof = workdir / "profiles" / "slurm" / "config.yaml"
    data = yaml.safe_load(prof.read_text())
    data.setdefault("default-resources", {})["slurm_account"] = account
    prof.write_text(yaml.safe_dump(data, sort_keys=False))


def submitted(log: str) -> tuple[list[str], dict[str, int]]:
    """From the main Snakemake log: the SLURM job ids it submitted, and the gpu resource of every rule it ran."""
    job_ids = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    gpu: dict[str, int] = {}
    rule = None
    for line in log.splitlines():
        s = line.strip()
        m = re.match(r"^(?:local)?rule (\S+):$", s)
        if m:
            rule = m.group(1)
        elif rule and s.startswith("resources:"):
            m = re.search(r"(?:^|[ ,:])gpu=(\d+)", s)
            gpu[rule] = int(m.group(1)) if m else 0
            rule = None
    return job_ids, gpu


def sacct(job_ids: list[str]) -> dict[str, dict]:
    """sacct rows (allocation level) of the given jobs."""
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-j", ",".join(job_ids),
         "-o", "JobIDRaw,State,Partition,AllocTRES,Comment%300"],
        capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        jid, state, part, tres, comment = line.split("|", 4)
        rows[jid] = {"state": state, "partition": part, "tres": tres, "comment": comment}
    return rows


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not NOT_COMPARED.search(
        str(p.relative_to(root)))}


def test_workflow_on_slurm_matches_local_run(slurm_cluster, tmp_path):
    on_slurm = make_workdir(tmp_path / "slurm")
    local = make_workdir(tmp_path / "local")
    set_account(on_slurm, ACCOUNT)
    env = dict(os.environ)
    snakemake = [sys.executable, "-m", "snakemake"]

    # The local reference run (auto-loads profiles/default) runs meanwhile: SLURM runs are latency-bound.
    local_log = (tmp_path / "local.log").open("w")
    local_proc = subprocess.Popen(snakemake + ["--cores", "1", *TARGETS], cwd=local, env=env,
                                  stdout=local_log, stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    slurm = subprocess.run(
        ["timeout", "-s", "INT", "-k", "20", str(SLURM_TIMEOUT), *snakemake,
         "--workflow-profile", "profiles/slurm", "--jobs", "4",
         "--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs", *TARGETS],
        cwd=on_slurm, env=env, capture_output=True, text=True)
    slurm_s = time.monotonic() - t0
    local_rc = local_proc.wait(timeout=600)
    local_log.close()
    log = slurm.stdout + slurm.stderr
    (tmp_path / "slurm.log").write_text(log)
    assert slurm.returncode == 0, f"SLURM run failed (rc {slurm.returncode}, {slurm_s:.0f} s):\n{log[-8000:]}"
    assert local_rc == 0, f"local run failed:\n{(tmp_path / 'local.log').read_text()[-6000:]}"
    print(f"SLURM run: {slurm_s:.0f} s")

    # What was submitted (the plugin's log) against what SLURM allocated (sacct; the job comment names the rule).
    job_ids, rule_gpu = submitted(log)
    acct = sacct(job_ids)
    assert set(acct) == set(job_ids), f"sacct knows {sorted(acct)}, Snakemake submitted {sorted(job_ids)}"
    rules = {}
    for jid in job_ids:
        m = re.match(r"rule_(.+?)(?:_wildcards_.*)?$", acct[jid]["comment"])
        assert m and m.group(1) in rule_gpu, (jid, acct[jid], sorted(rule_gpu))
        rules[jid] = m.group(1)
    gpu_rules = {r for r in rules.values() if rule_gpu[r]}
    cpu_rules = set(rules.values()) - gpu_rules
    assert gpu_rules == {"patch_classifier"}, f"expected the gpu=1 rule patch_classifier on SLURM: {rules}"
    assert "synthesize_tiny" in cpu_rules and any(r.startswith("preprocess_tiny_s") for r in cpu_rules), rules
    for jid, rule in sorted(rules.items()):
        row = acct[jid]
        assert row["state"] == "COMPLETED", (jid, rule, row)
        if rule in gpu_rules:
            assert "gres/gpu=1" in row["tres"].split(","), f"GPU rule without a GPU allocation: {rule} {row}"
            assert row["partition"] == "gpu", (rule, row)
        else:
            assert "gres/gpu" not in row["tres"], f"CPU rule got a GPU: {rule} {row}"
            assert row["partition"] == "cpu", (rule, row)
    assert "Auto-selected partition 'gpu' for job patch_classifier" in log

    # Same bytes as the local run, for every output (raw synthetic data included).
    for sub in ("results", "data"):
        a, b = tree(on_slurm / sub), tree(local / sub)
        assert a == b, f"{sub}/: only on SLURM {sorted(a - b)[:10]}, only local {sorted(b - a)[:10]}"
        assert a, f"no files under {sub}/"
        _, mismatch, errors = filecmp.cmpfiles(on_slurm / sub, local / sub, sorted(a), shallow=False)
        assert not mismatch and not errors, f"{sub}/ differs between SLURM and local runs: {mismatch[:10]} {errors[:10]}"
