"""Sample and write the S/S10 patches of one preprocess shard."""
from mammoflow.pipelines.nus import patches
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
o = snakemake.output
dirs = {(sp, st): o[f"{sp}_{st}"] for sp in patches.SPLITS for st in patches.SETS}
patches.run_shard(snakemake.input.images, snakemake.input.findings, snakemake.params.members, dirs, o.table,
                  o.rejected, patches.PatchConfig.from_config(snakemake.params.cfg), seed=snakemake.params.seed)
