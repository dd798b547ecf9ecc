"""The seed-002 JSON files of an INbreast release: xml.json, csv.json, merged dataset.json."""
from mammoflow.core.smk import setup_logging
from mammoflow.datasets.inbreast import write_json

setup_logging(snakemake)
o = snakemake.output
write_json(snakemake.params.root, o.xml, o.csv, o.dataset)
