"""The research pipelines, one subpackage each, over the shared layers."""
