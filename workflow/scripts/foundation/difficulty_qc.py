"""Global-intensity baseline AUCs of a dataset (results/{dataset}/qc/difficulty.json)."""
from mammoflow.evaluation.difficulty import difficulty_job
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
difficulty_job(snakemake.input.images, str(snakemake.output[0]))
