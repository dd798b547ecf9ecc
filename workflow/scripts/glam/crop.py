"""Crop every image of a dataset's exam list the way the NYU pipelines do."""
from mammoflow.pipelines.glam import crop as glam_crop
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
o = snakemake.output
glam_crop.run(snakemake.input.exam_list, snakemake.params.images, o.images, o.pkl, o.json, o.rejected,
              snakemake.params.cfg, threads=snakemake.threads)
