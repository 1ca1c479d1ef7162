"""Errors of `zoo bench`: usage errors (exit status 2) and failed runs (1)."""

from zoo.errors import ZooError, did_you_mean


class BenchError(ZooError, ValueError):
    """A benchmark asked for with a bad value: unknown model, flag, recipe.

    The message names the value and the valid choices; the CLI exits with
    status 2.
    """


class BenchFailure(ZooError, RuntimeError):
    """A benchmark that was well asked for but could not run to the end.

    For example out of memory even at batch size 1, or a backend subprocess
    that failed; the CLI exits with status 1.
    """


def check_choice(name, value, choices):
    """Raises `BenchError` unless `value` is one of `choices`.

    Args:
        name: str, what the value is (`"precision"`), used in the message.
        value: the value given.
        choices: iterable of str, the valid values.
    """
    choices = tuple(choices)
    if value not in choices:
        raise BenchError(
            f"Unknown {name} {value!r}.{did_you_mean(str(value), choices)} "
            f"Valid: {', '.join(choices)}."
        )
