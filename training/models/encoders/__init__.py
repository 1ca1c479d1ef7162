"""Text encoder configs, one module per family (found by `training.registry`)."""
