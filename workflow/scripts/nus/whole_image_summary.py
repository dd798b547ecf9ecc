"""Warped-vs-unwarped side-by-side table of the whole-image runs."""
from mammoflow.pipelines.nus import whole_image
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
whole_image.summarize(list(snakemake.input), snakemake.output[0])
