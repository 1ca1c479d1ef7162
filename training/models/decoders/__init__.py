"""Decoder configs, one module per decoder (found by `training.registry`)."""
