"""GLAM figures: the original's five panels per image, and a figure stating why an image has no output."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mammoflow.pipelines.glam.data import CLASSES, GlamResult


def visualize(res: GlamResult, path: str | Path, crop_shape: Sequence[int]) -> None:
    """The original's five panels: image with ground truth, patch map, benign and malignant saliency, patches."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    im = res.image
    K = len(res.positions)
    fig, axes = plt.subplots(1, 4 + K, figsize=(3 * (4 + K), 4.5), dpi=60)
    kw = dict(cmap="gray", interpolation="nearest")
    ax = axes[0]
    ax.imshow(im.window, **kw)
    for c, col in (("benign", "green"), ("malignant", "red")):
        m = im.masks.get(c)
        if m is not None and m.any():
            ax.contour(m.astype(float), levels=[0.5], colors=col, linewidths=1.2)
    ax.set_title(f"{im.image_id}\nB {im.benign} M {im.malignant}")
    ax = axes[1]
    ax.imshow(im.window, **kw)
    h, w = res.global_map.shape[-2:]
    ax.imshow(res.global_map.sum(0), cmap="jet", alpha=0.35, extent=(0, im.window.shape[1], im.window.shape[0], 0))
    for (top, left) in res.positions:
        ax.add_patch(Rectangle((left, top), crop_shape[1], crop_shape[0], fill=False, edgecolor="blue", lw=1.5))
    ax.set_title("patch map")
    for j, c in enumerate(CLASSES):
        ax = axes[2 + j]
        ax.imshow(im.window, **kw)
        ax.imshow(res.fused[j], cmap="magma", alpha=0.5, vmin=0, vmax=1)
        ax.set_title(f"{c} saliency\nscore {res.scores[j]:.3f}")
    for k in range(K):
        axes[4 + k].imshow(res.crops[k], **kw)
        axes[4 + k].set_title(f"patch {k + 1}")
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def visualize_rejected(image_id: str, reason: str, path: str | Path) -> None:
    """A figure stating why an image has no GLAM output (keeps every listed figure a real file)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(6, 2), dpi=60)
    fig.text(0.02, 0.5, f"{image_id}: no GLAM output\n{reason}", va="center", wrap=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
