# Seed 001 cascade inference, one job per shard (both models loaded once): per image the tissue map, FGT
# mask, lesion probability pasted back into the crop box and a 4-panel figure; then density and Dice tables.

for _ds in CASCADE_PLAN.lesion:
    for _shard in CASCADE_PLAN.shards(_ds):
        _files = CASCADE_PLAN.shard_files(_ds, _shard)

        rule:
            name:
                f"cascade_predict_{_ds}_{_shard}"
            input:
                preprocessed=f"results/{_ds}/preprocess/shards/{_shard}.csv",
                images=f"results/{_ds}/tables/images.csv",
                stage1=CASCADE_PLAN.stage1_checkpoint(),
                stage2=f"results/{_ds}/models/cascade/stage2/best_stage2.pth",
            output:
                table=f"results/{_ds}/cascade/predictions/shards/{_shard}.csv",
                rejected=f"results/{_ds}/cascade/predictions/shards/{_shard}_rejected.csv",
                tissue=_files["tissue_seg"],
                fgt=_files["fgt_mask"],
                prob=_files["cancer_prob"],
                figures=cascade_report(_files["visualization"], _ds),
            params:
                ids=shards(_ds)[_shard],
                canvas=cascade_image_template(_ds, "preprocessed"),
                breast=cascade_image_template(_ds, "breast_masks"),
                out_dir=lambda w, output: os.path.dirname(os.path.dirname(output.table)),
                margin=CASCADE["stage2"]["margin"],
                code=code_digest("mammoflow.pipelines.cascade.run"),
            log:
                f"logs/{_ds}/cascade/predict_{_shard}.log",
            threads: CASCADE["threads"]
            resources:
                gpu=1,
                mem_mb=CASCADE["mem_mb"],
                runtime=60,
            conda:
                ENV
            script:
                "../../scripts/cascade/predict_shard.py"


rule cascade_density:
    input:
        tables=get_cascade_prediction_tables,
        images="results/{dataset}/tables/images.csv",
    output:
        csv="results/{dataset}/cascade/density.csv",
        json=report(
            "results/{dataset}/cascade/density.json",
            caption="../../report/cascade/density.rst",
            category="Cascade",
            subcategory="{dataset}",
        ),
    params:
        thresholds=CASCADE["density"]["thresholds"],
        code=code_digest("mammoflow.pipelines.cascade.run"),
    log:
        "logs/{dataset}/cascade/density.log",
    conda:
        ENV
    script:
        "../../scripts/cascade/density.py"


rule cascade_summary:
    input:
        tables=get_cascade_prediction_tables,
        rejected=get_cascade_rejections,
        stage1=CASCADE_STAGE1_METRICS,
        stage2="results/{dataset}/models/cascade/stage2/metrics.json",
    output:
        dice=report(
            "results/{dataset}/cascade/dice.csv",
            caption="../../report/cascade/dice.rst",
            category="Cascade",
            subcategory="{dataset}",
        ),
        rejected="results/{dataset}/cascade/rejected.csv",
    params:
        code=code_digest("mammoflow.pipelines.cascade.run"),
    log:
        "logs/{dataset}/cascade/summary.log",
    conda:
        ENV
    script:
        "../../scripts/cascade/summary.py"


rule cascade:
    localrule: True
    input:
        CASCADE_PLAN.targets(),
