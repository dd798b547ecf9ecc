# Seed 000 saliency-guided warps: blended pixel/structure grids for every (scale, FWHM, lambda),
# one job per shard from the cached probability maps; the control warps (oracle boxes, random heat) of the
# whole-image experiment at one (scale, FWHM, lambda), one job per shard for all control kinds.


for _ds in NUS.datasets():
    _batched = NUS.leaf_batched(_ds)
    _sweep = dict(scale=NUS.scales, fwhm=NUS.fwhms, lam=NUS.lams)
    for _shard in NUS.shards(_ds):

        rule:
            name:
                f"warps_{_ds}_{_shard}"
            input:
                # shard tables stand for the per-image files their jobs write (keeps the DAG small)
                table=f"results/{_ds}/heatmaps/shards/{_shard}.csv",
                preprocessed=f"results/{_ds}/preprocess/shards/{_shard}.csv",
            output:
                table=f"results/{_ds}/warps/shards/{_shard}.csv",
                warps=nus_report(
                    NUS.paths(mf_nus.WARP, _ds, _shard, **_sweep), _ds, "../../report/nus/warps.rst", "warps"
                ),
                grids=NUS.paths(mf_nus.GRID, _ds, _shard, **_sweep) if _batched else [],
            params:
                pngs=NUS.pngs(_ds, [_shard]),
                scales=NUS.scales,
                fwhms=NUS.fwhms,
                lams=NUS.lams,
                long_side=S000["warps"]["grid_long_side"],
                grid_format=S000["warps"]["grid_format"],
                warp=nus_template(mf_nus.WARP, _ds),
                grid=nus_template(mf_nus.GRID, _ds) if _batched else "",
                code=code_digest("mammoflow.pipelines.nus.warps"),
            log:
                f"logs/{_ds}/warps/{_shard}.log",
            threads: 1
            resources:
                mem_mb=2000,
                runtime=120,
            conda:
                ENV
            script:
                "../../scripts/nus/warp_shard.py"

        if NUS.control_kinds:

            rule:
                name:
                    f"control_warps_{_ds}_{_shard}"
                input:
                    table=f"results/{_ds}/heatmaps/shards/{_shard}.csv",
                    preprocessed=f"results/{_ds}/preprocess/shards/{_shard}.csv",
                    findings=f"results/{_ds}/tables/findings.csv",
                output:
                    **{f"table_{k}": f"results/{_ds}/control_warps/{k}/shards/{_shard}.csv" for k in NUS.control_kinds},
                    warps=NUS.control_warps(_ds, _shard),
                params:
                    kinds=NUS.control_kinds,
                    point=NUS.control_point,
                    pngs=NUS.pngs(_ds, [_shard]),
                    long_side=S000["warps"]["grid_long_side"],
                    warp=nus_template(mf_nus.CONTROL_WARP, _ds),
                    seed=config["seed"],
                    code=code_digest("mammoflow.pipelines.nus.controls"),
                log:
                    f"logs/{_ds}/control_warps/{_shard}.log",
                threads: 1
                resources:
                    mem_mb=2000,
                    runtime=120,
                conda:
                    ENV
                script:
                    "../../scripts/nus/control_warp_shard.py"

    if not _batched:

        rule:
            name:
                f"grid_on_demand_{_ds}"
            input:
                unpack(image_shard_tables(_ds)),
            output:
                mf_nus.GRID.replace("{ds}", _ds),
            params:
                png=canvas_png(_ds),
                long_side=S000["warps"]["grid_long_side"],
                grid_format=S000["warps"]["grid_format"],
                code=code_digest("mammoflow.pipelines.nus.warps"),
            log:
                f"logs/{_ds}/grids/" + "{split}/{image_id}_scale{scale}_fwhm{fwhm}_lam{lam}.log",
            threads: 1
            resources:
                mem_mb=1000,
                runtime=10,
            conda:
                ENV
            script:
                "../../scripts/nus/grid_one.py"
