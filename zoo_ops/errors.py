"""Exceptions a caller of `zoo_ops` can cause, each naming the argument.

`ShapeError` and `ArgumentError` derive from `ValueError`, so existing
`except ValueError` clauses keep working.
"""

from zoo_ops._backend import static_shape


class ZooOpsError(Exception):
    """Base class of every error `zoo_ops` raises on purpose."""


class ShapeError(ZooOpsError, ValueError):
    """A tensor whose rank or shape does not fit the op."""


class ArgumentError(ZooOpsError, ValueError):
    """A non-tensor argument with a value the op cannot use."""


def check_shape(name, x, expected, allowed_ranks=None, last_dim=None):
    """Checks a tensor's rank and last dimension; returns its static shape.

    Args:
        name: str, the argument's name as the caller wrote it.
        x: the tensor.
        expected: str, the expected shape as shown to the user, e.g.
            "[batch, num_boxes, 4]".
        allowed_ranks: iterable of int, or None for any rank.
        last_dim: int or None, the required size of the last axis.

    Raises:
        ShapeError: naming `name`, `expected` and the received shape.
    """
    shape = static_shape(x)
    bad_rank = allowed_ranks is not None and len(shape) not in allowed_ranks
    bad_last = last_dim is not None and (
        not shape or (shape[-1] is not None and shape[-1] != last_dim)
    )
    if bad_rank or bad_last:
        raise ShapeError(
            f"`{name}` must have shape {expected}; received shape "
            f"{list(shape)}."
        )
    return shape


def check_same(name_a, value_a, name_b, value_b, what):
    """Raises ShapeError when two known sizes differ."""
    if value_a is not None and value_b is not None and value_a != value_b:
        raise ShapeError(
            f"{what} of `{name_a}` ({value_a}) and `{name_b}` ({value_b}) "
            "must be equal."
        )
