"""Tasks: what to train. Importing this package registers the built-in ones."""

from training.tasks import causal_lm  # noqa: F401  (registers)
from training.tasks import image_classification  # noqa: F401
from training.tasks import masked_lm  # noqa: F401
from training.tasks import question_answering  # noqa: F401
from training.tasks import retinanet  # noqa: F401
from training.tasks import semantic_segmentation  # noqa: F401
from training.tasks import sentence_prediction  # noqa: F401
from training.tasks import tagging  # noqa: F401
