"""Super-resolve every pair of a split with the SRResNet and the SRGAN (models loaded once)."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.superres import infer

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
infer.run_infer(i.pairs, {"srresnet": i.srresnet, "srgan": i.srgan}, snakemake.wildcards.split, o.sr, o.rejected,
                o.timing, p.scale, snakemake.threads)
