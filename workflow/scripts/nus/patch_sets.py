"""Per-split, per-set patch CSVs and the patch rejection table from the shard tables."""
from mammoflow.pipelines.nus import patches
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
o = snakemake.output
csvs = {(sp, st): o[f"{sp}_{st}"] for sp in patches.SPLITS for st in patches.SETS}
patches.aggregate(snakemake.input.tables, snakemake.input.rejected, csvs, o.rejected)
