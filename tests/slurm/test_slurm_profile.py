"""profiles/slurm: loads as a Snakemake profile, and the plugin's partition choice sends gpu=1 jobs to `gpu`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "slurm"


class _Resources(dict):
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e


class _Job:
    """The parts of a Snakemake job that the plugin's partition scoring reads."""

    def __init__(self, name: str, threads: int = 1, **resources):
        self.name, self.threads = name, threads
        self.resources = _Resources(resources)

    def __str__(self):
        return self.name


@pytest.fixture(scope="module")
def profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def test_profile_keys(profile):
    assert profile["executor"] == "slurm"
    assert (PROFILE / profile["slurm-partition-config"]).is_file()
    defaults = profile["default-resources"]
    assert "slurm_partition" not in defaults, "a default partition would override the automatic choice"
    assert "gpu_model" not in defaults and "gpu" not in defaults, "GPU settings in defaults would apply to CPU jobs"
    assert profile["max-jobs-per-timespan"].endswith("/1s"), "minute spans keep Snakemake alive after the last job"


def test_partition_choice(profile):
    parts = read_partition_file(PROFILE / profile["slurm-partition-config"])
    log = logging.getLogger("test")
    defaults = dict(profile["default-resources"])
    cpu_job = _Job("preprocess_vindr_s000", **defaults)
    gpu_job = _Job("patch_classifier", threads=2, **{**defaults, "gpu": 1, "mem_mb": 16000, "runtime": 720})
    two_threads_cpu = _Job("glam_crop", threads=2, **defaults)
    assert get_best_partition(parts, cpu_job, log) == "cpu"
    assert get_best_partition(parts, two_threads_cpu, log) == "cpu"
    assert get_best_partition(parts, gpu_job, log) == "gpu"
    assert get_best_partition(parts, _Job("x", gpu=3), log) is None  # more GPUs than any partition has
