"""GLAM model settings (glam.model + glam.window) and the layer arithmetic they must satisfy (no torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence

from mammoflow.core.errors import ConfigError


def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


@dataclass(frozen=True)
class GlamConfig:
    """All sizes of the model (glam.model + glam.window; the schema's defaults are the paper's: 2944x1920 window,
    512x512 crops)."""

    window: tuple[int, int]
    crop_shape: tuple[int, int]
    global_width: int
    global_blocks: tuple[int, ...]
    global_strides: tuple[int, ...]
    local_width: int
    local_blocks: tuple[int, ...]
    percent_k: float
    top_k_per_class: int
    detection_pooling_percent_k: float
    map_weights: tuple[float, float, float]
    num_classes: int = 2

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "GlamConfig":
        """Build from a config mapping (lists become tuples); unknown keys are an error."""
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown glam.model keys: {sorted(unknown)}")
        missing = sorted(names - set(d) - {"num_classes"})
        if missing:
            raise ConfigError(f"glam.model lacks {missing}; validate it against workflow/schemas/glam.schema.yaml")
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """Plain-builtin representation (for checkpoints and JSON)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def validate(self) -> None:
        """Refuse sizes the layer arithmetic cannot honour."""
        if len(self.global_blocks) != 5 or len(self.global_strides) != 5:
            raise ConfigError("glam.model: the global module has exactly five stages")
        if len(self.local_blocks) != 4:
            raise ConfigError("glam.model: the local module has exactly four stages")
        if len(self.map_weights) != 3 or abs(sum(self.map_weights) - 1.0) > 1e-6:
            raise ConfigError("glam.model.map_weights: three weights summing to 1")
        ch, cw = self.cam_size
        if min(ch, cw) < 1:
            raise ConfigError(f"glam.model.window {self.window} is too small")
        if self.crop_shape[0] > self.window[0] or self.crop_shape[1] > self.window[1]:
            raise ConfigError("glam.model.crop_shape must fit inside the window")
        if min(self.crop_cells) < 1:
            raise ConfigError("glam.model.crop_shape maps to less than one saliency cell")

    @property
    def stage_sizes(self) -> list[tuple[int, int]]:
        """Spatial size after each of the five global stages (7x7/2 stem padded by 3, 3x3/2 pool unpadded)."""
        out, sizes = [], []
        for n in self.window:
            n = _conv_out(n, 7, 2, 3)
            n = _conv_out(n, 3, 2, 0)
            sz = []
            for s in self.global_strides:
                n = _conv_out(n, 3, s, 1)
                sz.append(n)
            out.append(sz)
        sizes = list(zip(out[0], out[1]))
        return sizes

    @property
    def cam_size(self) -> tuple[int, int]:
        """Size of the global saliency map: the stage-3 feature map (window / 16)."""
        return self.stage_sizes[2]

    @property
    def crop_cells(self) -> tuple[int, int]:
        """Crop size in saliency cells (512 * 184 / 2944 = 32 at paper sizes)."""
        (ch, cw), (H, W) = self.cam_size, self.window
        return (int(round(self.crop_shape[0] * ch / H)), int(round(self.crop_shape[1] * cw / W)))

    @property
    def local_map_size(self) -> tuple[int, int]:
        """Local saliency map size (crop / 4: stem stride 2, pool stride 2, stages stride 1)."""
        return tuple(_conv_out(_conv_out(n, 7, 2, 3), 3, 2, 1) for n in self.crop_shape)  # type: ignore


def model_config(model: Mapping[str, Any] | None, window: Sequence[int]) -> GlamConfig:
    """GlamConfig from glam.model with the window of glam.window (the one the centres were computed for)."""
    d = dict(model or {})
    d = {k: v for k, v in d.items() if k not in ("threads", "mem_mb", "runtime")}
    if "window" in d and list(d["window"]) != list(window):
        raise ConfigError(f"glam.model.window {d['window']} differs from glam.window {list(window)}")
    d["window"] = list(window)
    return GlamConfig.from_dict(d)
