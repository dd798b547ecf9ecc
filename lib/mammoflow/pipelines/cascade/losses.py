"""Segmentation losses of the two stages: 0.5 soft Dice + 0.5 CE (tissue), BCE + soft Dice (lesion), L1 penalty."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SMOOTH = 1e-5


def soft_dice_multiclass(logits: torch.Tensor, target: torch.Tensor, smooth: float = SMOOTH) -> torch.Tensor:
    """Mean over classes (background included) of the soft Dice of softmax probabilities vs one-hot targets."""
    probs = logits.softmax(dim=1)
    onehot = F.one_hot(target.long(), logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    denom = probs.sum(dims) + onehot.sum(dims)
    return ((2 * inter + smooth) / (denom + smooth)).mean()


def tissue_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Stage 1: 0.5 (1 - soft Dice) + 0.5 cross-entropy."""
    return 0.5 * (1 - soft_dice_multiclass(logits, target)) + 0.5 * F.cross_entropy(logits, target.long())


def soft_dice_binary(logits: torch.Tensor, target: torch.Tensor, smooth: float = SMOOTH) -> torch.Tensor:
    """Soft Dice of sigmoid probabilities over the whole batch."""
    p = logits.sigmoid()
    t = target.to(p.dtype)
    return (2 * (p * t).sum() + smooth) / (p.sum() + t.sum() + smooth)


def lesion_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Stage 2: BCE with logits + (1 - soft Dice); logits (N,1,H,W), target (N,H,W) in {0,1}."""
    logits = logits[:, 0]
    return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype)) + 1 - soft_dice_binary(logits, target)


def l1_penalty(model: nn.Module, lam: float) -> torch.Tensor | float:
    """lam * sum |w| over the trainable parameters (0 when lam is 0)."""
    if lam <= 0:
        return 0.0
    return lam * sum(p.abs().sum() for p in model.parameters() if p.requires_grad)
