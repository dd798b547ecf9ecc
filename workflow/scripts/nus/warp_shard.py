"""Warps and grids of one shard for every (scale, FWHM, lambda)."""
from mammoflow.pipelines.nus import warps
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
p = snakemake.params
warps.run_shard(snakemake.input.table, p.pngs, p.scales, p.fwhms, p.lams, p.long_side, p.warp, p.grid,
               snakemake.output.table, p.grid_format)
