"""Cut the LR/HR pairs of a dataset."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.superres import data

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
data.make_pairs(i.images, i.findings, p.out_dir, o.pairs, o.rejected, p.pairs, p.clahe, p.seed)
