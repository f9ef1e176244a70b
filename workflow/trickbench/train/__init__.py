"""Training: one run from spec to metrics. No result files are written here (see `trickbench.run`)."""
