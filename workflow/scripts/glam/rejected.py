"""One rejection table of the GLAM preparation (exam list, crop, centres)."""
from mammoflow.core import rejections
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
rejections.combine(list(snakemake.input), snakemake.output[0])
