"""One warp grid on request (datasets whose grids the warp shard jobs do not write)."""
from mammoflow.pipelines.nus import warps
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
w, p = snakemake.wildcards, snakemake.params
warps.one_grid(snakemake.input.table, w.image_id, p.png, float(w.scale), float(w.fwhm), float(w.lam), p.long_side,
              snakemake.output[0], p.grid_format)
