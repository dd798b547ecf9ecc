"""Saliency targets and overlays of one shard for every (scale, FWHM), from the cached probability maps."""
from mammoflow.pipelines.nus import saliency
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
p = snakemake.params
saliency.derive_shard(snakemake.input.table, p.pngs, p.scales, p.fwhms, p.long_side, p.heat, p.overlay, p.alpha)
