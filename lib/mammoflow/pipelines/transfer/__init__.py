"""Seed 004: benign/malignant transfer learning (CLAHE, torchvision backbones, metrics with CIs, Grad-CAM)."""
