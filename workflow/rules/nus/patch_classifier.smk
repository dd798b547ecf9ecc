# Seed 000 patch classifier: one training run per (dataset, patch set), staged fine-tuning, test metrics;
# cross-fitting (seed000.heatmaps.crossfit_folds = k > 1): k more runs of the heatmap patch set, each without
# the training studies of one fold of folds.csv (same settings and draws per epoch as the full run).
# last.pt (the resume state) is written next to best.pt but not declared, so that Snakemake does not
# delete it when a run is interrupted: the rerun continues from it.

PC_DIR = "results/{dataset}/models/patch_classifier/{patch_set}"
PCF_DIR = "results/{dataset}/models/patch_classifier/{patch_set}_fold{fold}"


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


rule patch_folds:
    input:
        images="results/{dataset}/tables/images.csv",
    output:
        "results/{dataset}/models/patch_classifier/folds.csv",
    params:
        k=S000["heatmaps"]["crossfit_folds"],
        seed=config["seed"],
        code=code_digest("mammoflow.pipelines.nus.crossfit"),
    log:
        "logs/{dataset}/patch_classifier/folds.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/nus/patch_folds.py"


use rule patch_classifier as patch_classifier_fold with:
    input:
        unpack(get_patch_fold_input),
    output:
        best=f"{PCF_DIR}/best.pt",
        metrics=f"{PCF_DIR}/metrics.json",
        roc=f"{PCF_DIR}/roc.png",
        predictions=f"{PCF_DIR}/test_predictions.csv",
        history=f"{PCF_DIR}/history.csv",
        tensorboard=directory(f"{PCF_DIR}/tensorboard"),
    log:
        "logs/{dataset}/patch_classifier/{patch_set}_fold{fold}.log",
