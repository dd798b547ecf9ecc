"""Shared foundations: errors, paths, names, seeds, provenance, safe unpickling, config helpers, rejections."""
