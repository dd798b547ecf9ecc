"""Saliency targets and overlays of one shard for every (scale, FWHM), from the cached probability maps."""
from mammoflow.pipelines.nus import heatmap
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
p = snakemake.params
heatmap.derive_shard(snakemake.input.table, p.pngs, p.scales, p.fwhms, p.long_side, p.heat, p.overlay, p.alpha)
