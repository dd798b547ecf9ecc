# Seed 000 saliency-guided warps: blended pixel/structure grids for every (scale, FWHM, lambda),
# one job per shard from the cached probability maps.

WARP = "results/{ds}/warps/{split}/{image_id}_warp_scale{scale}_fwhm{fwhm}_lam{lam}.png"
GRID = "results/{ds}/grids/{split}/{image_id}_grid_scale{scale}_fwhm{fwhm}_lam{lam}.npy"

for _ds in S000["datasets"]:
    _batched = leaf_batched(_ds)
    for _shard in s000_shards(_ds):

        rule:
            name:
                f"warps_{_ds}_{_shard}"
            input:
                # shard tables stand for the per-image files their jobs write (keeps the DAG small)
                table=f"results/{_ds}/heatmaps/shards/{_shard}.csv",
                preprocessed=f"results/{_ds}/preprocess/shards/{_shard}.csv",
            output:
                table=f"results/{_ds}/warps/shards/{_shard}.csv",
                warps=s000_report(
                    s000_paths(WARP, _ds, _shard, scale=SCALES, fwhm=FWHMS, lam=LAMS),
                    _ds,
                    "../report/seed000_warps.rst",
                    "warps",
                ),
                grids=s000_paths(GRID, _ds, _shard, scale=SCALES, fwhm=FWHMS, lam=LAMS) if _batched else [],
            params:
                pngs={i: PNG.format(ds=_ds, image_id=i) for i, _ in s000_items(_ds, _shard)},
                scales=SCALES,
                fwhms=FWHMS,
                lams=LAMS,
                long_side=WP["grid_long_side"],
                grid_format=WP["grid_format"],
                warp=s000_template(WARP, _ds),
                grid=s000_template(GRID, _ds) if _batched else "",
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
                "../scripts/warp_shard.py"


    if not _batched:

        rule:
            name:
                f"grid_on_demand_{_ds}"
            input:
                unpack(image_shard_tables(_ds)),
            output:
                GRID.replace("{ds}", _ds),
            params:
                png=lambda w, ds=_ds: PNG.format(ds=ds, image_id=w.image_id),
                long_side=WP["grid_long_side"],
                grid_format=WP["grid_format"],
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
                "../scripts/grid_one.py"


def warp_targets():
    """The table of every warp shard job (each job writes all its images' warps and grids)."""
    return [f"results/{ds}/warps/shards/{s}.csv" for ds in S000["datasets"] for s in s000_shards(ds)]


PIPELINE_TARGETS += warp_targets()
