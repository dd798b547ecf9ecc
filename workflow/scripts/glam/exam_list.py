"""Safe-load and validate an NYU exam_list_before_cropping.pkl (pkl + JSON twin + rejection rows)."""
from mammoflow.datasets.nyu import run_validate
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
o = snakemake.output
run_validate(snakemake.input.exam_list, snakemake.params.images, o.pkl, o.json, o.rejected)
