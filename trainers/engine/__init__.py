"""The training engine: configs, data splits, the landmark and image trainers, starting weights, analysis, and the
app's one background run (job)."""
