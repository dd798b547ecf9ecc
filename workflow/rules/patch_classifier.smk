# Seed 000 patch classifier: one training run per (dataset, patch set), 3-stage fine-tuning, test metrics.
# last.pt (the resume state) is written next to best.pt but not declared, so that Snakemake does not
# delete it when a run is interrupted: the rerun continues from it.


PC_CFG = S000["patch_classifier"]
PC_DIR = "results/{dataset}/models/patch_classifier/{patch_set}"


rule patch_classifier:
    input:
        train="results/{dataset}/patches/training/{patch_set}.csv",
        test="results/{dataset}/patches/test/{patch_set}.csv",
        images="results/{dataset}/tables/images.csv",
        # the patch folders of every shard, both splits (what the CSVs point into)
        dirs=lambda w: expand(
            "results/{ds}/patches/{sp}/{ps}/{s}",
            ds=w.dataset,
            sp=PATCH_SPLITS,
            ps=w.patch_set,
            s=sorted(shards(w.dataset)),
        ),
        # context-consistency training (tiled: false, context_px > 0) cuts patches from their canvases,
        # located through the patch tables; both are upstream of the patch CSVs anyway
        patch_tables=lambda w: expand(
            "results/{ds}/patches/shards/{s}.csv", ds=w.dataset, s=sorted(shards(w.dataset))
        ),
        canvases=lambda w: expand(
            "results/{ds}/preprocess/shards/{s}.csv", ds=w.dataset, s=sorted(shards(w.dataset))
        ),
    output:
        best=f"{PC_DIR}/best.pt",
        metrics=report(
            f"{PC_DIR}/metrics.json",
            caption="../report/seed000_patch_metrics.rst",
            category="Seed 000",
            subcategory="patch classifier",
        ),
        roc=report(
            f"{PC_DIR}/roc.png",
            caption="../report/seed000_patch_roc.rst",
            category="Seed 000",
            subcategory="patch classifier",
        ),
        predictions=f"{PC_DIR}/test_predictions.csv",
        history=f"{PC_DIR}/history.csv",
        tensorboard=directory(f"{PC_DIR}/tensorboard"),
    params:
        cfg=PC_CFG,
        seed=config["seed"],
        canvas=lambda w: f"results/{w.dataset}/preprocessed/" + "{image_id}.png",
        device=config.get("device", "auto"),
        code=code_digest("mammoflow.pipelines.nus.patch_classifier"),
    log:
        "logs/{dataset}/patch_classifier/{patch_set}.log",
    threads: PC_CFG["threads"]
    resources:
        gpu=1,
        mem_mb=PC_CFG["mem_mb"],
        runtime=PC_CFG["runtime"],
    conda:
        ENV
    script:
        "../scripts/patch_classifier_train.py"


PIPELINE_TARGETS += expand(
    "results/{ds}/models/patch_classifier/{ps}/metrics.json",
    ds=S000["datasets"],
    ps=PC_CFG["sets"],
)
