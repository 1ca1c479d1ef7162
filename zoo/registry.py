"""The model registry: named builder functions, listed and created by name.

```python
@register_model
def resnet50(**kwargs):
    ...

zoo.list_models("resnet*")               # ['resnet50', ...]
zoo.create_model("resnet50", num_classes=10, input_shape=(32, 32, 3))
```
"""

import dataclasses
import fnmatch
import inspect
import re

from zoo.errors import UnknownModelError, did_you_mean

_MODELS = {}


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered builder.

    Attributes:
        name: str, the name `create_model` takes.
        builder: callable returning a Keras model.
        family: str, the architecture family (`"resnet"`, ...).
        description: str, the first line of the builder's docstring.
    """

    name: str
    builder: object
    family: str
    description: str


def register_model(fn=None, *, name=None, family=None):
    """Registers a model builder under its function name (or `name`).

    Usable bare (`@register_model`) or with arguments
    (`@register_model(name="x", family="y")`). Registering a name twice is an
    error unless it is the same function (module reloads).

    Args:
        fn: the builder, `fn(**kwargs) -> keras.Model`.
        name: str, the registered name; defaults to `fn.__name__`.
        family: str, the family; defaults to the last part of the builder's
            module name (`zoo.vision.backbones.resnet` -> `"resnet"`).

    Returns:
        `fn` unchanged, so the builder stays callable directly.
    """

    def decorator(fn):
        entry_name = name or fn.__name__
        existing = _MODELS.get(entry_name)
        if existing is not None and (
            existing.builder.__qualname__ != fn.__qualname__
            or existing.builder.__module__ != fn.__module__
        ):
            raise ValueError(
                f"Model name {entry_name!r} is already registered by "
                f"{existing.builder.__module__}.{existing.builder.__qualname__}."
            )
        doc = inspect.getdoc(fn) or ""
        _MODELS[entry_name] = ModelEntry(
            name=entry_name,
            builder=fn,
            family=family or fn.__module__.rsplit(".", 1)[-1],
            description=doc.splitlines()[0] if doc else "",
        )
        return fn

    if fn is not None:
        return decorator(fn)
    return decorator


def _ensure_builtin_models():
    # Importing the model modules runs their @register_model decorators.
    import zoo.nlp.encoders  # noqa: F401
    import zoo.vision.backbones  # noqa: F401


def list_models(pattern="*"):
    """Names of the registered models matching an fnmatch `pattern`, sorted.

    Args:
        pattern: str or list of str, shell-style wildcards (`"resnet*"`).
            A name matches when it matches any of the patterns.

    Returns:
        list of str.
    """
    _ensure_builtin_models()
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    return sorted(
        (n for n in _MODELS if any(fnmatch.fnmatchcase(n, p) for p in patterns)),
        key=natural_key,
    )


def natural_key(name):
    """Sort key that orders digits by value: resnet18 < resnet50 < resnet101."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def get_model_entry(name):
    """Returns the `ModelEntry` for `name`, or raises `UnknownModelError`."""
    _ensure_builtin_models()
    if name not in _MODELS:
        raise UnknownModelError(
            f"Unknown model {name!r}.{did_you_mean(name, _MODELS)} "
            "See zoo.list_models() for every registered name."
        )
    return _MODELS[name]


def create_model(name, **kwargs):
    """Builds the registered model `name` with random weights.

    Keyword arguments whose value is `None` are dropped, so callers can pass
    optional settings straight through (as timm does).

    Args:
        name: str, a registered model name (see `list_models()`).
        **kwargs: passed to the builder, e.g. `num_classes`, `input_shape`,
            `features_only`, `drop_path_rate`, `dtype`.

    Returns:
        keras.Model: an `ImageClassifier`, or the backbone when
        `features_only=True`.

    Raises:
        UnknownModelError: `name` is not registered; the message lists the
            closest registered names.
        TypeError: an argument the builder does not take.
    """
    entry = get_model_entry(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return entry.builder(**kwargs)
