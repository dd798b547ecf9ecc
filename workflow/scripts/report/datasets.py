"""Per-dataset summary table for the report's landing page."""
from mammoflow.report.overview import summary_job
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
summary_job(snakemake.params.datasets, snakemake.input.images, snakemake.input.findings,
            snakemake.input.rejected, snakemake.output[0])
