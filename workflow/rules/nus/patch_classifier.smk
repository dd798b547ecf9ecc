# Seed 000 patch classifier: one training run per (dataset, patch set), staged fine-tuning, test metrics.
# last.pt (the resume state) is written next to best.pt but not declared, so that Snakemake does not
# delete it when a run is interrupted: the rerun continues from it.

PC_DIR = "results/{dataset}/models/patch_classifier/{patch_set}"


rule patch_classifier:
    input:
        # the patch folders of every shard of both splits (what the CSVs point into); context-consistency
        # training (tiled: false, context_px > 0) also reads the patch and preprocess shard tables
        unpack(get_patch_classifier_input),
    output:
        best=f"{PC_DIR}/best.pt",
        metrics=report(
            f"{PC_DIR}/metrics.json",
            caption="../../report/nus/patch_metrics.rst",
            category="Seed 000",
            subcategory="patch classifier",
        ),
        roc=report(
            f"{PC_DIR}/roc.png",
            caption="../../report/nus/patch_roc.rst",
            category="Seed 000",
            subcategory="patch classifier",
        ),
        predictions=f"{PC_DIR}/test_predictions.csv",
        history=f"{PC_DIR}/history.csv",
        tensorboard=directory(f"{PC_DIR}/tensorboard"),
    params:
        cfg=S000["patch_classifier"],
        seed=config["seed"],
        canvas=get_canvas_template,
        device=config["device"],
        code=code_digest("mammoflow.pipelines.nus.patch_classifier"),
    log:
        "logs/{dataset}/patch_classifier/{patch_set}.log",
    threads: S000["patch_classifier"]["threads"]
    resources:
        gpu=1,
        mem_mb=S000["patch_classifier"]["mem_mb"],
        runtime=S000["patch_classifier"]["runtime"],
    conda:
        ENV
    script:
        "../../scripts/nus/patch_classifier_train.py"
