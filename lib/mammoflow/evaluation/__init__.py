"""Metrics and figures shared by the pipelines."""
