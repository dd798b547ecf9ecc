"""Intensity baseline of the benign/malignant task (seed 004)."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.transfer import baseline
from mammoflow.pipelines.transfer.config import TransferConfig

setup_logging(snakemake)
baseline.baseline_job(snakemake.input.splits, TransferConfig.from_config(snakemake.params.cfg), snakemake.params.seed,
                      snakemake.output.predictions, snakemake.output.metrics)
