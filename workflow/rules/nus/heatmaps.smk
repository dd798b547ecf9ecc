# Seed 000 heatmaps: P(lesion) maps once per image (models loaded once per shard job; with cross-fitting a
# training image's map comes from the fold model that did not see its study), then the per-(scale, FWHM)
# saliency targets and overlays derived from the cached maps.


for _ds in NUS.datasets():
    for _shard in NUS.shards(_ds):

        rule:
            name:
                f"heatmap_{_ds}_{_shard}"
            input:
                # the full patch classifier, the shard's canvases and (cross-fitting) the fold models
                unpack(heatmap_shard_input(_ds, _shard)),
            output:
                table=f"results/{_ds}/heatmaps/shards/{_shard}.csv",
                # the shard's P(lesion) maps, one HDF5 dataset per image (mammoflow.io.probmaps)
                probs=f"results/{_ds}/heatmaps/shards/{_shard}_prob.h5",
            params:
                members=[list(t) for t in NUS.items(_ds, _shard)],
                pngs=NUS.paths(mf_nus.PNG, _ds, _shard),
                method=S000["heatmaps"]["method"],
                stride=S000["heatmaps"]["stride"],
                batch_size=S000["heatmaps"]["batch_size"],
                crossfit_folds=NUS.crossfit_folds(),
                device=config["device"],
                code=code_digest("mammoflow.pipelines.nus.heatmap"),
            log:
                f"logs/{_ds}/heatmaps/{_shard}.log",
            threads: S000["heatmaps"]["threads"]
            resources:
                gpu=1,
                mem_mb=S000["heatmaps"]["mem_mb"],
                runtime=S000["heatmaps"]["runtime"],
            conda:
                ENV
            script:
                "../../scripts/nus/heatmap_shard.py"

        if NUS.leaf_batched(_ds):

            rule:
                name:
                    f"saliency_{_ds}_{_shard}"
                input:
                    # shard tables stand for the per-image files their jobs write (keeps the DAG small)
                    table=f"results/{_ds}/heatmaps/shards/{_shard}.csv",
                    preprocessed=f"results/{_ds}/preprocess/shards/{_shard}.csv",
                output:
                    heat=NUS.paths(mf_nus.HEAT, _ds, _shard, scale=NUS.scales, fwhm=NUS.fwhms),
                    overlays=nus_report(
                        NUS.paths(mf_nus.OVERLAY, _ds, _shard, scale=NUS.scales, fwhm=NUS.fwhms),
                        _ds,
                        "../../report/nus/overlays.rst",
                        "overlays",
                    ),
                params:
                    pngs=NUS.pngs(_ds, [_shard]),
                    scales=NUS.scales,
                    fwhms=NUS.fwhms,
                    long_side=S000["warps"]["grid_long_side"],
                    alpha=S000["heatmaps"]["overlay_alpha"],
                    heat=nus_template(mf_nus.HEAT, _ds),
                    overlay=nus_template(mf_nus.OVERLAY, _ds),
                    code=code_digest("mammoflow.pipelines.nus.saliency"),
                log:
                    f"logs/{_ds}/saliency/{_shard}.log",
                threads: 1
                resources:
                    mem_mb=2000,
                    runtime=60,
                conda:
                    ENV
                script:
                    "../../scripts/nus/saliency_shard.py"

    if not NUS.leaf_batched(_ds):

        rule:
            name:
                f"saliency_on_demand_{_ds}"
            input:
                unpack(image_shard_tables(_ds)),
            output:
                heat=mf_nus.HEAT.replace("{ds}", _ds),
                overlay=report(
                    mf_nus.OVERLAY.replace("{ds}", _ds),
                    caption="../../report/nus/overlays.rst",
                    category="Seed 000",
                    subcategory="overlays",
                ),
            params:
                png=canvas_png(_ds),
                long_side=S000["warps"]["grid_long_side"],
                alpha=S000["heatmaps"]["overlay_alpha"],
                code=code_digest("mammoflow.pipelines.nus.saliency"),
            log:
                f"logs/{_ds}/saliency/" + "{split}/{image_id}_scale{scale}_fwhm{fwhm}.log",
            threads: 1
            resources:
                mem_mb=1000,
                runtime=10,
            conda:
                ENV
            script:
                "../../scripts/nus/saliency_one.py"


rule heatmap_eval:
    input:
        unpack(get_heatmap_eval_input),
    output:
        report(
            "results/{dataset}/heatmaps/evaluation.json",
            caption="../../report/nus/heatmaps.rst",
            category="Seed 000",
            subcategory="heatmaps",
        ),
    params:
        pngs=get_heatmap_pngs,
        dilate=S000["heatmaps"]["eval_dilate_px"],
        compare_max=S000["heatmaps"]["compare_sliding_max"],
        code=code_digest("mammoflow.pipelines.nus.heatmap"),
    log:
        "logs/{dataset}/heatmaps/evaluation.log",
    threads: S000["heatmaps"]["threads"]
    resources:
        mem_mb=S000["heatmaps"]["mem_mb"],
        runtime=S000["heatmaps"]["runtime"],
    conda:
        ENV
    script:
        "../../scripts/nus/heatmap_eval.py"
