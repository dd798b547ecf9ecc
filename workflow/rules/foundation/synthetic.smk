# Synthetic raw datasets, generated deterministically from their config block in the real on-disk layout.


for _ds in synthetic_vindr_datasets():

    rule:
        name:
            f"synthesize_{_ds}"
        output:
            tables=synthetic_outputs(_ds, "tables"),
            dicoms=synthetic_outputs(_ds, "dicoms"),
            ground_truth=synthetic_outputs(_ds, "ground_truth"),
        params:
            spec=DATASETS[_ds]["synthetic"],
            code=code_digest("mammoflow.datasets.synthetic.vindr"),
        log:
            f"logs/{_ds}/synthesize.log",
        conda:
            ENV
        script:
            "../../scripts/foundation/synthesize_vindr.py"


for _ds in [d for d in synthetic_datasets() if dataset_format(d) != "vindr"]:

    rule:
        name:
            f"synthesize_{_ds}"
        output:
            **synthetic_files(_ds),
        params:
            fmt=dataset_format(_ds),
            spec=DATASETS[_ds]["synthetic"],
            root=dataset_path(_ds),
            code=code_digest(f"mammoflow.datasets.synthetic.{dataset_format(_ds)}"),
        log:
            f"logs/{_ds}/synthesize.log",
        conda:
            ENV
        script:
            "../../scripts/foundation/synthesize.py"
