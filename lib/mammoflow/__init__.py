"""mammoflow: mammography datasets to research artefacts, as one reproducible Snakemake DAG."""

__version__ = "0.1.0"
