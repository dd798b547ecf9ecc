"""Control warps (oracle boxes, random heat) of one shard at the control (scale, FWHM, lambda)."""
from mammoflow.pipelines.nus import controls
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
p, i = snakemake.params, snakemake.input
controls.run_shard(p.kinds, i.table, i.findings, p.pngs, float(p.point["scale"]), float(p.point["fwhm"]),
                   float(p.point["lam"]), p.long_side, p.warp,
                   {k: snakemake.output[f"table_{k}"] for k in p.kinds}, p.seed)
