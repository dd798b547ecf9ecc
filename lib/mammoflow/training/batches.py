"""Batches on their way through a model: device moves, batch sizes, ordered prediction over a dataset."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


def to_device(batch: Any, device: torch.device) -> Any:
    """Move the tensors of a (nested) batch to the device."""
    if torch.is_tensor(batch):
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def batch_len(batch: Any) -> int:
    """Number of samples in a (nested) batch; a list of non-tensor items counts its items."""
    if torch.is_tensor(batch):
        return int(batch.shape[0])
    if isinstance(batch, (list, tuple)) and batch:
        first = batch[0]
        return batch_len(first) if torch.is_tensor(first) or isinstance(first, (list, tuple, dict)) else len(batch)
    if isinstance(batch, dict) and batch:
        return batch_len(next(iter(batch.values())))
    return 1


@torch.no_grad()
def predict(model: nn.Module, data: Dataset, fn: Callable[[nn.Module, Any], torch.Tensor | np.ndarray],
            device: torch.device, batch_size: int = 128, collate: Callable | None = None,
            num_workers: int = 0) -> np.ndarray:
    """fn(model, batch) over a dataset in order (eval mode, no gradients), results concatenated."""
    model.eval()
    out = []
    for batch in DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=num_workers):
        r = fn(model, to_device(batch, device))
        out.append(r.detach().cpu().numpy() if torch.is_tensor(r) else np.asarray(r))
    return np.concatenate(out) if out else np.zeros(0)


def iter_params(modules: Iterable[nn.Module]) -> list[nn.Parameter]:
    """The parameters of several modules, in order."""
    return [p for m in modules for p in m.parameters()]
