# Seed 000 patch sets S and S10: one job per preprocess shard (patch PNGs + a shard table), then the
# per-split, per-set CSVs. The number of patches of an image is only known after sampling (rejections,
# findings per image), so each shard job declares one directory() per (split, set) for its PNGs.


for _ds in NUS.datasets():
    for _shard, _ids in shards(_ds).items():

        rule:
            name:
                f"patches_{_ds}_{_shard}"
            input:
                images=f"results/{_ds}/tables/images.csv",
                findings=f"results/{_ds}/tables/findings.csv",
                # the shard table stands for the per-image PNGs and masks its job writes
                preprocessed=f"results/{_ds}/preprocess/shards/{_shard}.csv",
            output:
                table=f"results/{_ds}/patches/shards/{_shard}.csv",
                rejected=f"results/{_ds}/patches/shards/{_shard}_rejected.csv",
                **patch_shard_dirs(_ds, _shard),
            params:
                members=list(_ids),
                cfg=S000["patches"],
                seed=config["seed"],
                code=code_digest("mammoflow.pipelines.nus.patches"),
            log:
                f"logs/{_ds}/patches/{_shard}.log",
            threads: 1
            resources:
                mem_mb=S000["patches"]["mem_mb"],
                runtime=S000["patches"]["runtime"],
            conda:
                ENV
            script:
                "../../scripts/nus/patches_shard.py"


rule patch_sets:
    input:
        unpack(get_patch_sets_input),
    output:
        rejected="results/{dataset}/patches/rejected.csv",
        **{
            f"{sp}_{st}": f"results/{{dataset}}/patches/{sp}/{st}.csv"
            for sp in mf_nus.PATCH_SPLITS
            for st in mf_nus.PATCH_SETS
        },
    params:
        code=code_digest("mammoflow.pipelines.nus.patches"),
    log:
        "logs/{dataset}/patches/sets.log",
    conda:
        ENV
    script:
        "../../scripts/nus/patch_sets.py"
