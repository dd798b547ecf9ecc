"""Report items: the run overview and the rule graph."""
