"""Write a synthetic stand-in dataset in its format's on-disk layout."""
from mammoflow.core.smk import setup_logging
from mammoflow.datasets.listing import synth_config, synthetic

setup_logging(snakemake)
p = snakemake.params
synthetic(p.fmt).write(synth_config(p.fmt, p.spec), p.root)
