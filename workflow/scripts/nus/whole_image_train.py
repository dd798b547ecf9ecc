"""Train and test one whole-image classifier run (warped or control-warped when warp tables are given, else the baseline)."""
from pathlib import Path

from mammoflow.pipelines.nus import whole_image
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
w, i, p = snakemake.wildcards, snakemake.input, snakemake.params
cfg = whole_image.WholeImageConfig.from_config({**p.cfg, "device": p.device})
whole_image.train(i.images, list(i.heat), list(i.warps) if "warps" in i.keys() else None,
                  str(Path(snakemake.output.metrics).parent), cfg, i.get("checkpoint"),
                  w.get("scale"), w.get("fwhm"), w.get("lam"), seed=p.seed, threads=snakemake.threads,
                  code=p.code, tensorboard=snakemake.output.tensorboard,
                  shuffle_labels=bool(getattr(p, "shuffle_labels", False)), control=w.get("control"))
