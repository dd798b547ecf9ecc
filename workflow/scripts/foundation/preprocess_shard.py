"""Preprocess one shard of images."""
from mammoflow.core.smk import setup_logging
from mammoflow.datasets.formats import canvas_maps
from mammoflow.preprocess.canvas import run_shard_job

setup_logging(snakemake)
p = snakemake.params
maps = canvas_maps(p.fmt, p.root, snakemake.input.get("findings"))
run_shard_job(p.members, snakemake.output, snakemake.output.table, p.pre, maps)
