"""One rejection table for the GLAM preparation stages of a dataset."""
from mammoflow.pipelines.glam.centers import combine_rejections
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
combine_rejections(list(snakemake.input), snakemake.output[0])
