"""FGT crop boxes, breast-box fallback, and the paste-back of stage-2 probabilities into the crop box."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mammoflow.pipelines.cascade.crops import Box, crop, crop_box, paste_back
from mammoflow.pipelines.cascade.infer import Cascade


class _Bright(nn.Module):
    """Stand-in stage 2: lesion logit = steep function of the crop intensity (a bright blob is the lesion)."""

    def forward(self, x):
        return (x - 0.5) * 40


class _Tissue(nn.Module):
    """Stand-in stage 1: FGT (class 2) where the image is above 0.2, background elsewhere."""

    def forward(self, x):
        fgt = (x > 0.2).float()
        return torch.cat([1 - fgt, torch.zeros_like(x), fgt * 2, torch.zeros_like(x)], dim=1)


def test_crop_box_margin_and_fallback():
    fgt = np.zeros((100, 80), bool)
    fgt[40:50, 30:35] = True
    b = crop_box(fgt, np.ones_like(fgt), 0.05)
    assert (b.r0, b.r1, b.c0, b.c1, b.fallback) == (35, 55, 25, 40, False)
    breast = np.zeros_like(fgt)
    breast[10:90, 0:60] = True
    fb = crop_box(np.zeros_like(fgt), breast, 0.0)
    assert (fb.r0, fb.r1, fb.c0, fb.c1, fb.fallback) == (10, 90, 0, 60, True)


def test_paste_back_lands_on_the_known_lesion():
    image = np.zeros((200, 120), np.float32)
    image[40:160, 20:100] = 0.3  # "FGT" region -> the crop box
    image[120:136, 70:86] = 0.9  # the lesion, off-centre in the box
    cas = Cascade(_Tissue().eval(), (200, 120), _Bright().eval(), (64, 64), margin=0.0)
    out = cas.run(image, image > 0)
    b = out["box"]
    assert (b.r0, b.r1, b.c0, b.c1) == (40, 160, 20, 100) and not b.fallback
    prob = out["prob"]
    assert prob.shape == image.shape
    assert prob[:40].max() == 0 and prob[160:].max() == 0 and prob[:, :20].max() == 0 and prob[:, 100:].max() == 0
    hot = prob > 0.5
    rows, cols = np.flatnonzero(hot.any(1)), np.flatnonzero(hot.any(0))
    assert abs(rows[0] - 120) <= 2 and abs(rows[-1] - 135) <= 2 and abs(cols[0] - 70) <= 2 and abs(cols[-1] - 85) <= 2
    lesion = np.zeros_like(hot)
    lesion[120:136, 70:86] = True
    assert 2 * (hot & lesion).sum() / (hot.sum() + lesion.sum()) > 0.85


def test_crop_then_paste_is_identity_at_box_size():
    rng = np.random.default_rng(0)
    a = rng.random((50, 40)).astype(np.float32)
    box = Box(5, 35, 10, 30)
    back = paste_back(crop(a, box, box.shape), box, a.shape)
    assert np.allclose(back[5:35, 10:30], a[5:35, 10:30]) and back[:5].sum() == 0
