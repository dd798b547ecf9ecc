"""The training engine and its helpers: devices, checkpoints, pretrained weights, splits."""
