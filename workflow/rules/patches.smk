# Seed 000 patch sets S and S10: one job per preprocess shard (patch PNGs + a shard table), then the
# per-split, per-set CSVs. The number of patches of an image is only known after sampling (rejections,
# findings per image), so each shard job declares one directory() per (split, set) for its PNGs.


validate(config["seed000"], schema="../schemas/seed000.schema.yaml")

S000 = config["seed000"]
PATCH_CFG = S000["patches"]
PATCH_SPLITS = ["training", "test"]
PATCH_SETS = ["s", "s10"]


wildcard_constraints:
    patch_set=r"s|s10",


def patch_shard_dirs(ds, shard):
    """The (split, set) patch folders one shard job writes, keyed 'split_set'."""
    return {
        f"{sp}_{st}": directory(f"results/{ds}/patches/{sp}/{st}/{shard}")
        for sp in PATCH_SPLITS
        for st in PATCH_SETS
    }


for _ds in S000["datasets"]:
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
                cfg=PATCH_CFG,
                seed=config["seed"],
                code=code_digest("mammoflow.pipelines.nus.patches"),
            log:
                f"logs/{_ds}/patches/{_shard}.log",
            threads: 1
            resources:
                mem_mb=PATCH_CFG["mem_mb"],
                runtime=PATCH_CFG["runtime"],
            conda:
                ENV
            script:
                "../scripts/patches_shard.py"

    rule:
        name:
            f"patch_sets_{_ds}"
        input:
            tables=expand("results/{ds}/patches/shards/{s}.csv", ds=_ds, s=sorted(shards(_ds))),
            rejected=expand(
                "results/{ds}/patches/shards/{s}_rejected.csv", ds=_ds, s=sorted(shards(_ds))
            ),
        output:
            rejected=f"results/{_ds}/patches/rejected.csv",
            **{
                f"{sp}_{st}": f"results/{_ds}/patches/{sp}/{st}.csv"
                for sp in PATCH_SPLITS
                for st in PATCH_SETS
            },
        params:
            code=code_digest("mammoflow.pipelines.nus.patches"),
        log:
            f"logs/{_ds}/patches/sets.log",
        conda:
            ENV
        script:
            "../scripts/patch_sets.py"


PIPELINE_TARGETS += expand(
    "results/{ds}/patches/{sp}/{st}.csv", ds=S000["datasets"], sp=PATCH_SPLITS, st=PATCH_SETS
)
