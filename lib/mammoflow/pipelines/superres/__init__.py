"""Seed 002: LR/HR pairs from 16-bit canvases, SRResNet/SRGAN super-resolution, lesion-patch GAN."""
