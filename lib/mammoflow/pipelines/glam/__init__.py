"""Seed 003: GLAM crop, optimal centres, global/local model, training and inference."""
