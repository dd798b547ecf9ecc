"""The engine task of a softmax classifier: cross-entropy on prepared batches, validation loss/AUC/accuracy."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader, Dataset

from mammoflow.evaluation.metrics import roc_auc
from mammoflow.training.engine import Task

Prepare = Callable[[torch.Tensor], torch.Tensor]
PrepareTrain = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@torch.no_grad()
def scores(model: nn.Module, data: Dataset, prepare: Prepare, device: torch.device, batch_size: int = 128,
           num_workers: int = 0, positive: int = 1) -> tuple[np.ndarray, np.ndarray, float]:
    """P(positive class), labels and mean cross-entropy over an (x, y) dataset, in order."""
    model.eval()
    out, labels, loss_sum = [], [], 0.0
    for x, y in DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=num_workers):
        x, y = prepare(x.to(device)), y.to(device)
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        out.append(torch.softmax(logits.float(), 1)[:, positive].cpu().numpy())
        labels.append(y.cpu().numpy())
    if not out:
        return np.zeros(0), np.zeros(0, dtype=int), float("nan")
    s, lab = np.concatenate(out), np.concatenate(labels)
    return s, lab, loss_sum / max(len(lab), 1)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, data: Dataset, prepare: Prepare, device: torch.device,
                          batch_size: int = 128) -> None:
    """Replace BatchNorm running statistics by the average of their batch statistics over (prepared) training inputs
    (a model without BatchNorm is left alone and no input is read)."""
    batches = (prepare(x.to(device)) for x, _ in DataLoader(data, batch_size=batch_size, shuffle=False))
    update_bn(batches, model, device)


class SoftmaxClassification(Task):
    """Cross-entropy of model(prepare_train(x)) against integer labels; stage scopes from `scopes`."""

    def __init__(self, scopes: Callable[[nn.Module, str], list[nn.Parameter]], prepare_train: PrepareTrain,
                 prepare_eval: Prepare, eval_batch_size: int = 128, num_workers: int = 0,
                 class_weight: torch.Tensor | None = None, recalibrate_bn: bool = False):
        self.scopes, self.prepare_train, self.prepare_eval = scopes, prepare_train, prepare_eval
        self.eval_batch_size, self.num_workers, self.class_weight = eval_batch_size, num_workers, class_weight
        self.recalibrate_bn = recalibrate_bn

    def end_of_epoch(self, model: nn.Module, train_data: Dataset, device: torch.device) -> None:
        """With recalibrate_bn: BatchNorm statistics recomputed on the un-augmented training inputs, so that
        eval mode sees the statistics of the final weights (a short run's moving averages lag far behind)."""
        if self.recalibrate_bn:
            recalibrate_batchnorm(model, train_data, self.prepare_eval, device, self.eval_batch_size)

    def parameters(self, model: nn.Module, scope: str) -> list[nn.Parameter]:
        """The parameters of the stage's scope."""
        return list(self.scopes(model, scope))

    def loss(self, model: nn.Module, batch, gen: torch.Generator) -> torch.Tensor:
        """Cross-entropy of the augmented, normalised batch."""
        x, y = batch
        w = self.class_weight.to(x.device) if self.class_weight is not None else None
        return F.cross_entropy(model(self.prepare_train(x, gen)), y, weight=w)

    def validate(self, model: nn.Module, data: Dataset, device: torch.device) -> dict[str, float]:
        """val_loss, val_auc and val_acc (threshold 0.5) of the validation data."""
        s, y, loss = scores(model, data, self.prepare_eval, device, self.eval_batch_size, self.num_workers)
        return {"val_loss": loss, "val_auc": roc_auc(y, s), "val_acc": float(((s >= 0.5) == y).mean())}
