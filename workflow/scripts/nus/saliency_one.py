"""One saliency .npy and overlay on request (datasets whose saliency shard jobs do not write them)."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.nus import saliency

setup_logging(snakemake)
w, p, o = snakemake.wildcards, snakemake.params, snakemake.output
saliency.derive_one(snakemake.input.table, w.image_id, p.png, float(w.scale), float(w.fwhm), p.long_side,
                    o.heat, o.overlay, p.alpha)
