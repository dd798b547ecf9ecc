# Source image -> 16-bit PNG canvas + breast mask, one job per shard (its outputs are the explicit
# per-image files, so each stays a target while start-up is paid once per shard); then the canonical tables.


for _ds in image_datasets():
    for _shard, _ids in shards(_ds).items():

        rule:
            name:
                f"preprocess_{_ds}_{_shard}"
            input:
                shard_sources(_ds, _shard),
            output:
                table=f"results/{_ds}/preprocess/shards/{_shard}.csv",
                pngs=[f"results/{_ds}/preprocessed/{i}.png" for i in _ids],
                masks=[f"results/{_ds}/breast_masks/{i}.png" for i in _ids],
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
                "../../scripts/foundation/preprocess_shard.py"


rule tables:
    localrule: True
    input:
        unpack(get_tables_input),
    output:
        **{n: f"results/{{dataset}}/tables/{n}.csv" for n in TABLE_NAMES},
    params:
        listing_rejections=get_listing_rejections,
        shard_of=get_shard_of,
        code=code_digest("mammoflow.datasets.tables"),
    log:
        "logs/{dataset}/tables.log",
    conda:
        ENV
    script:
        "../../scripts/foundation/tables.py"
