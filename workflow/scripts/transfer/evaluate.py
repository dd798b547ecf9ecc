"""Test metrics with CIs and figures of one backbone or the ensemble (seed 004)."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.transfer import evaluate

setup_logging(snakemake)
cfg, out = snakemake.params.cfg, snakemake.output
evaluate.eval_job(list(snakemake.input.predictions), snakemake.wildcards.model, cfg["n_boot"], cfg["sensitivity"],
                  snakemake.params.seed, {"metrics": out.metrics, "roc": out.roc, "pr": out.pr,
                                          "confusion": out.confusion})
