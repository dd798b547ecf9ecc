"""Seed 001: two-stage tissue -> lesion segmentation cascade with an ACA-ResUNet."""
