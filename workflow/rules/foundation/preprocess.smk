# The adapter's annotations (one job per dataset), source image -> 16-bit PNG canvas + breast mask (+ lesion
# mask / tissue map where the dataset has them), one job per shard (its outputs are the explicit per-image
# files, so each stays a target while start-up is paid once per shard); then the canonical tables.


rule annotate:
    input:
        get_annotation_input,
    output:
        images="results/{dataset}/annotations/images.csv",
        findings="results/{dataset}/annotations/findings.csv",
        rejected="results/{dataset}/annotations/rejected.csv",
    params:
        fmt=get_format,
        root=get_root,
        code=lambda w: code_digest(f"mammoflow.datasets.{dataset_format(w.dataset)}", "mammoflow.datasets.tables"),
    log:
        "logs/{dataset}/annotate.log",
    conda:
        ENV
    script:
        "../../scripts/foundation/annotate.py"


for _ds in image_datasets():
    for _shard, _ids in shards(_ds).items():

        rule:
            name:
                f"preprocess_{_ds}_{_shard}"
            input:
                **shard_inputs(_ds, _shard),
            output:
                table=f"results/{_ds}/preprocess/shards/{_shard}.csv",
                pngs=[f"results/{_ds}/preprocessed/{i}.png" for i in _ids],
                masks=[f"results/{_ds}/breast_masks/{i}.png" for i in _ids],
                lesions=shard_maps(_ds, "lesion_masks", _ids),
                tissue=shard_maps(_ds, "tissue", _ids),
            params:
                members=shard_items(_ds, _shard),
                pre=PRE,
                fmt=dataset_format(_ds),
                root=dataset_path(_ds),
                code=code_digest(
                    "mammoflow.preprocess.canvas", "mammoflow.datasets.formats", f"mammoflow.datasets.{dataset_format(_ds)}"
                ),
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
        shard_of=get_shard_of,
        test_fraction=get_split_test_fraction,
        seed=config["seed"],
        code=code_digest("mammoflow.datasets.tables", "mammoflow.training.splits"),
    log:
        "logs/{dataset}/tables.log",
    conda:
        ENV
    script:
        "../../scripts/foundation/tables.py"


rule inbreast_json:
    localrule: True
    input:
        get_annotation_input,
    output:
        xml="results/{dataset}/inbreast/json/xml.json",
        csv="results/{dataset}/inbreast/json/csv.json",
        dataset="results/{dataset}/inbreast/json/dataset.json",
    params:
        root=get_root,
        code=code_digest("mammoflow.datasets.inbreast"),
    log:
        "logs/{dataset}/inbreast_json.log",
    conda:
        ENV
    script:
        "../../scripts/foundation/inbreast_json.py"
