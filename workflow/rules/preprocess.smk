# DICOM -> 16-bit PNG canvas + breast mask, one job per shard; then the canonical tables.


for _ds in image_datasets():
    for _shard, _ids in shards(_ds).items():

        rule:
            name:
                f"preprocess_{_ds}_{_shard}"
            input:
                shard_sources(_ds, _shard),
            output:
                table=f"results/{_ds}/preprocess/shards/{_shard}.csv",
                pngs=expand("results/{ds}/preprocessed/{i}.png", ds=_ds, i=_ids),
                masks=expand("results/{ds}/breast_masks/{i}.png", ds=_ds, i=_ids),
            params:
                members=shard_items(_ds, _shard),
                pre=PRE,
                code=code_digest("mammoflow.preprocess.canvas"),
            log:
                f"logs/{_ds}/preprocess/{_shard}.log",
            threads: 1
            resources:
                mem_mb=3000,
                runtime=60,
            conda:
                ENV
            script:
                "../scripts/preprocess_shard.py"

    rule:
        name:
            f"tables_{_ds}"
        localrule: True
        input:
            **raw_tables(_ds),
            shards=expand(
                "results/{ds}/preprocess/shards/{s}.csv", ds=_ds, s=sorted(shards(_ds))
            ),
        output:
            **{n: f"results/{_ds}/tables/{n}.csv" for n in TABLE_NAMES},
        params:
            listing_rejections=listing_rejections(_ds),
            shard_of=shard_map(_ds),
            code=code_digest("mammoflow.datasets.tables"),
        log:
            f"logs/{_ds}/tables.log",
        conda:
            ENV
        script:
            "../scripts/tables.py"

    if "synthetic" in DATASETS[_ds]:

        rule:
            name:
                f"breast_mask_qc_{_ds}"
            localrule: True
            input:
                images=f"results/{_ds}/tables/images.csv",
                ground_truth=synthetic_outputs(_ds, "ground_truth"),
            output:
                table=f"results/{_ds}/qc/breast_mask_iou.csv",
                summary=report(
                    f"results/{_ds}/qc/breast_mask_iou_summary.csv",
                    caption="../report/breast_mask_qc.rst",
                    category="Preprocessing",
                    subcategory=_ds,
                ),
            params:
                code=code_digest("mammoflow.preprocess.qc"),
            log:
                f"logs/{_ds}/breast_mask_qc.log",
            conda:
                ENV
            script:
                "../scripts/breast_mask_qc.py"
