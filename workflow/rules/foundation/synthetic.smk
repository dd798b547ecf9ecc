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
