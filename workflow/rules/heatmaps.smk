# Seed 000 heatmaps: P(lesion) maps once per image (model loaded once per shard job), then the
# per-(scale, FWHM) saliency targets and overlays derived from the cached maps.


import itertools

from mammoflow.core.naming import fmt_num


validate(config["seed000"], schema="../schemas/seed000.schema.yaml")

S000 = config["seed000"]
HM = S000["heatmaps"]
WP = S000["warps"]


_S000_ITEMS = {}


def s000_items(ds, shard):
    """(image_id, split) of a shard's images in the heatmap splits, sorted by id (computed once per dataset)."""
    if ds not in _S000_ITEMS:
        df = dataset_images(ds)
        rows = df[(df["shard"] != "") & df["split"].isin(HM["splits"])].sort_values("image_id")
        by_shard = {}
        for i, sp, sh in zip(rows["image_id"], rows["split"], rows["shard"]):
            by_shard.setdefault(sh, []).append((i, sp))
        _S000_ITEMS[ds] = by_shard
    return _S000_ITEMS[ds].get(shard, [])


def s000_shards(ds):
    """Shards of a dataset that hold at least one image of the heatmap splits."""
    return [s for s in sorted(shards(ds)) if s000_items(ds, s)]


def s000_paths(tmpl, ds, shard, **sweep):
    """tmpl formatted for every image of a shard (and every combination of the sweep lists), in expand's order."""
    keys = list(sweep)
    combos = [dict(zip(keys, c)) for c in itertools.product(*(sweep[k] for k in keys))]
    return [
        tmpl.format(ds=ds, split=sp, image_id=i, **c)
        for i, sp in s000_items(ds, shard)
        for c in combos
    ]


def patch_checkpoint(ds):
    """The patch classifier that produces the heatmaps."""
    return f"results/{ds}/models/patch_classifier/{HM['patch_set']}/best.pt"


_S000_EXAMPLES = {}


def s000_examples(ds, n=2):
    """The first test image ids of a dataset: their overlays and warps go into the report."""
    if ds not in _S000_EXAMPLES:
        ids = sorted(i for s in s000_shards(ds) for i, sp in s000_items(ds, s) if sp == "test")
        _S000_EXAMPLES[ds] = set(ids[:n])
    return _S000_EXAMPLES[ds]


def s000_report(paths, ds, caption, subcategory):
    """Wrap the example images' files among paths in report() (category Seed 000)."""
    ex = s000_examples(ds)
    out = []
    for p in paths:
        flag = any(os.path.basename(p).startswith(f"{i}_") for i in ex)
        out.append(report(p, caption=caption, category="Seed 000", subcategory=subcategory) if flag else p)
    return out


def s000_template(tmpl, ds):
    """A per-image path template for a script (a function, so Snakemake does not expand its braces)."""
    t = tmpl.replace("{ds}", ds)
    return lambda wildcards: t


def image_shard_tables(ds):
    """Input function of an on-demand rule: the heatmap and preprocess shard tables of the requested image
    (they stand for its probability map and its canvas)."""

    def inputs(wildcards):
        shard = shard_map(ds)[wildcards.image_id]
        return {
            "table": f"results/{ds}/heatmaps/shards/{shard}.csv",
            "preprocessed": f"results/{ds}/preprocess/shards/{shard}.csv",
        }

    return inputs


_LEAF_BATCHED = {}


def leaf_batched(ds):
    """True if the shard jobs of a dataset write its saliency, overlay and grid files (per_image_files;
    decided once per dataset: the rule loops ask once per shard)."""
    if ds not in _LEAF_BATCHED:
        pf = S000["per_image_files"]
        if pf["mode"] == "auto":
            n = sum(len(s000_items(ds, s)) for s in s000_shards(ds))
            _LEAF_BATCHED[ds] = n <= pf["batch_max_images"]
        else:
            _LEAF_BATCHED[ds] = pf["mode"] == "batch"
    return _LEAF_BATCHED[ds]


def fmt_list(values):
    """Sweep values as they appear in file names (20.0 -> '20', 0.5 -> '0.5')."""
    return [fmt_num(v) for v in values]


HEAT = "results/{ds}/heatmaps/{split}/{image_id}_scale{scale}_fwhm{fwhm}.npy"
OVERLAY = "results/{ds}/overlays/{split}/{image_id}_overlay_scale{scale}_fwhm{fwhm}.png"
PNG = "results/{ds}/preprocessed/{image_id}.png"
SCALES, FWHMS, LAMS = fmt_list(WP["scales"]), fmt_list(WP["fwhms"]), fmt_list(WP["lams"])

for _ds in S000["datasets"]:
    for _shard in s000_shards(_ds):

        rule:
            name:
                f"heatmap_{_ds}_{_shard}"
            input:
                checkpoint=patch_checkpoint(_ds),
                # the shard table stands for the per-image PNGs its job writes (keeps the DAG small)
                preprocessed=f"results/{_ds}/preprocess/shards/{_shard}.csv",
            output:
                table=f"results/{_ds}/heatmaps/shards/{_shard}.csv",
                # the shard's P(lesion) maps, one HDF5 dataset per image (mammoflow.io.probmaps)
                probs=f"results/{_ds}/heatmaps/shards/{_shard}_prob.h5",
            params:
                members=[list(t) for t in s000_items(_ds, _shard)],
                pngs=s000_paths(PNG, _ds, _shard),
                method=HM["method"],
                stride=HM["stride"],
                batch_size=HM["batch_size"],
                device=config.get("device", "auto"),
                code=code_digest("mammoflow.pipelines.nus.heatmap"),
            log:
                f"logs/{_ds}/heatmaps/{_shard}.log",
            threads: HM["threads"]
            resources:
                gpu=1,
                mem_mb=HM["mem_mb"],
                runtime=HM["runtime"],
            conda:
                ENV
            script:
                "../scripts/heatmap_shard.py"

        if leaf_batched(_ds):

            rule:
                name:
                    f"saliency_{_ds}_{_shard}"
                input:
                    # shard tables stand for the per-image files their jobs write (keeps the DAG small)
                    table=f"results/{_ds}/heatmaps/shards/{_shard}.csv",
                    preprocessed=f"results/{_ds}/preprocess/shards/{_shard}.csv",
                output:
                    heat=s000_paths(HEAT, _ds, _shard, scale=SCALES, fwhm=FWHMS),
                    overlays=s000_report(
                        s000_paths(OVERLAY, _ds, _shard, scale=SCALES, fwhm=FWHMS),
                        _ds,
                        "../report/seed000_overlays.rst",
                        "overlays",
                    ),
                params:
                    pngs={i: PNG.format(ds=_ds, image_id=i) for i, _ in s000_items(_ds, _shard)},
                    scales=SCALES,
                    fwhms=FWHMS,
                    long_side=WP["grid_long_side"],
                    alpha=HM["overlay_alpha"],
                    heat=s000_template(HEAT, _ds),
                    overlay=s000_template(OVERLAY, _ds),
                    code=code_digest("mammoflow.pipelines.nus.heatmap"),
                log:
                    f"logs/{_ds}/saliency/{_shard}.log",
                threads: 1
                resources:
                    mem_mb=2000,
                    runtime=60,
                conda:
                    ENV
                script:
                    "../scripts/saliency_shard.py"

    if not leaf_batched(_ds):

        rule:
            name:
                f"saliency_on_demand_{_ds}"
            input:
                unpack(image_shard_tables(_ds)),
            output:
                heat=HEAT.replace("{ds}", _ds),
                overlay=report(
                    OVERLAY.replace("{ds}", _ds),
                    caption="../report/seed000_overlays.rst",
                    category="Seed 000",
                    subcategory="overlays",
                ),
            params:
                png=lambda w, ds=_ds: PNG.format(ds=ds, image_id=w.image_id),
                long_side=WP["grid_long_side"],
                alpha=HM["overlay_alpha"],
                code=code_digest("mammoflow.pipelines.nus.heatmap"),
            log:
                f"logs/{_ds}/saliency/" + "{split}/{image_id}_scale{scale}_fwhm{fwhm}.log",
            threads: 1
            resources:
                mem_mb=1000,
                runtime=10,
            conda:
                ENV
            script:
                "../scripts/saliency_one.py"

    rule:
        name:
            f"heatmap_eval_{_ds}"
        input:
            tables=expand(
                "results/{ds}/heatmaps/shards/{s}.csv", ds=_ds, s=s000_shards(_ds)
            ),
            findings=f"results/{_ds}/tables/findings.csv",
            checkpoint=patch_checkpoint(_ds),
        output:
            report(
                f"results/{_ds}/heatmaps/evaluation.json",
                caption="../report/seed000_heatmaps.rst",
                category="Seed 000",
                subcategory="heatmaps",
            ),
        params:
            pngs={i: PNG.format(ds=_ds, image_id=i) for s in s000_shards(_ds) for i, _ in s000_items(_ds, s)},
            dilate=HM["eval_dilate_px"],
            compare_max=HM["compare_sliding_max"],
            code=code_digest("mammoflow.pipelines.nus.heatmap"),
        log:
            f"logs/{_ds}/heatmaps/evaluation.log",
        threads: HM["threads"]
        resources:
            mem_mb=HM["mem_mb"],
            runtime=HM["runtime"],
        conda:
            ENV
        script:
            "../scripts/heatmap_eval.py"


def heatmap_targets():
    """One output of every saliency shard job (each job writes all its images' heatmaps and overlays; listing
    every per-image file in `all` would cost a DAG lookup per file at VinDr scale), plus the heatmap QC; for
    on-demand datasets the report examples' heatmaps and overlays."""
    out = []
    for ds in S000["datasets"]:
        if leaf_batched(ds):
            for s in s000_shards(ds):
                out.append(s000_paths(HEAT, ds, s, scale=SCALES, fwhm=FWHMS)[0])
        else:
            items = [(i, sp) for s in s000_shards(ds) for i, sp in s000_items(ds, s) if i in s000_examples(ds)]
            for i, sp in items:
                for sc, fw in itertools.product(SCALES, FWHMS):
                    kw = dict(ds=ds, split=sp, image_id=i, scale=sc, fwhm=fw)
                    out += [HEAT.format(**kw), OVERLAY.format(**kw)]
        out.append(f"results/{ds}/heatmaps/evaluation.json")
    return out


PIPELINE_TARGETS += heatmap_targets()
