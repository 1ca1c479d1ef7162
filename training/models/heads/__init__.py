"""Head configs, one module per head (found by `training.registry`)."""
