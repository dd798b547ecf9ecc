"""Train and test one whole-image classifier run (warped or control-warped when warp tables are given, else the
baseline); a run named by the run wildcard is trained again with the train_seed wildcard's seed."""
from pathlib import Path

from mammoflow.pipelines.nus import whole_image
from mammoflow.pipelines.nus.plan import parse_run
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
w, i, p = snakemake.wildcards, snakemake.input, snakemake.params
run = parse_run(w.run) if "run" in w.keys() else {**dict(w.items()), "shuffled": bool(getattr(p, "shuffle_labels", False))}
seed = int(w.train_seed) if "train_seed" in w.keys() else p.seed
cfg = whole_image.WholeImageConfig.from_config({**p.cfg, "device": p.device})
whole_image.train(i.images, list(i.heat), list(i.warps) if "warps" in i.keys() else None,
                  str(Path(snakemake.output.metrics).parent), cfg, i.get("checkpoint"),
                  run.get("scale"), run.get("fwhm"), run.get("lam"), seed=seed, threads=snakemake.threads,
                  code=p.code, tensorboard=snakemake.output.tensorboard, shuffle_labels=run["shuffled"],
                  control=run.get("control"))
