"""The `zoo` logger: INFO lines on stderr unless the application logs itself."""

import logging
import os


class _FallbackHandler(logging.StreamHandler):
    """Prints only while the root logger has no handler of its own.

    Once an application (or pytest) configures logging, records propagate to
    its handlers instead, so nothing is printed twice.
    """

    def emit(self, record):
        if logging.getLogger().handlers:
            return
        super().emit(record)


def configure_default_logging():
    """Gives the `zoo` logger a stderr fallback at `$ZOO_LOG_LEVEL` (INFO)."""
    logger = logging.getLogger("zoo")
    if any(isinstance(h, _FallbackHandler) for h in logger.handlers):
        return
    handler = _FallbackHandler()
    handler.setFormatter(logging.Formatter("zoo: %(message)s"))
    logger.addHandler(handler)
    level = os.environ.get("ZOO_LOG_LEVEL", "INFO").upper()
    logger.setLevel(getattr(logging, level, logging.INFO))
