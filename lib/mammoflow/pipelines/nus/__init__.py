"""Seed 000: patches, patch classifier, heatmaps, saliency warps, whole-image classifier."""
