"""Run a dataset's adapter: its images, findings and rejections (original pixel coordinates)."""
from mammoflow.core.smk import setup_logging
from mammoflow.datasets.tables import annotate_job

setup_logging(snakemake)
annotate_job(snakemake.params.fmt, snakemake.params.root, dict(snakemake.output.items()))
