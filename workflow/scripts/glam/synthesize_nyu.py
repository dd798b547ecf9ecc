"""Generate a synthetic NYU-style dataset (images, exam list, lesion masks)."""
from mammoflow.core.smk import setup_logging
from mammoflow.datasets.synthetic.nyu import generate

setup_logging(snakemake)
generate(snakemake.params.root, snakemake.params.spec, threads=snakemake.threads)
