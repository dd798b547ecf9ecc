"""Benign/malignant samples with patient-level splits (seed 004)."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.transfer import data
from mammoflow.pipelines.transfer.config import TransferConfig

setup_logging(snakemake)
data.splits_job(snakemake.input.images, snakemake.input.findings, TransferConfig.from_config(snakemake.params.cfg),
                snakemake.params.seed, snakemake.output.splits, snakemake.output.rejected)
