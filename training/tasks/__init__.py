"""Tasks: what to train. Importing this package registers the built-in ones."""

from training.tasks import image_classification  # noqa: F401  (registers)

