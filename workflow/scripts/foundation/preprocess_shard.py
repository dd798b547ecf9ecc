"""Preprocess one shard of images."""
from mammoflow.preprocess.canvas import run_shard_job
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
run_shard_job(snakemake.params.members, snakemake.output.pngs, snakemake.output.masks,
              snakemake.output.table, snakemake.params.pre)
