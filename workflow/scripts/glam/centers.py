"""Optimal window centres of the cropped images (data.pkl + JSON)."""
from mammoflow.pipelines.glam import centers as optimal_centers
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
o = snakemake.output
optimal_centers.run(snakemake.input.pkl, snakemake.input.images, o.pkl, o.json, o.rejected, snakemake.params.window)
