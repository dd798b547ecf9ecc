"""Comparison table of the backbones, the ensemble and the intensity baseline (seed 004)."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.transfer import evaluate

setup_logging(snakemake)
evaluate.summary_job(list(snakemake.input.metrics), snakemake.input.baseline, snakemake.output[0])
