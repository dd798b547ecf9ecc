"""metrics.json and side-by-side figures of the test pairs."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.superres import infer

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
infer.run_evaluate(i.pairs, i.sr, "test", o.metrics, list(o.figures), p.evaluate, p.scale)
