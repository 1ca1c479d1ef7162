"""The model registry: families, their registered variants, and task models.

A family module declares itself once and registers one builder per variant
(timm's pattern); each builder returns the family's backbone:

```python
FAMILY = register_family("resnet", modality="vision",
                         task="image_classifier", paper="...")

@register_model
def resnet50(**kwargs):
    \"\"\"ResNet-50: bottleneck blocks [3, 4, 6, 3], 25.6M parameters.\"\"\"
    return ResNetBackbone(stage_blocks=(3, 4, 6, 3), **kwargs)
```

Task models (`ImageClassifier`, `TextClassifier`, ...) are generic and
registered by name with `@register_task_model("image_classifier")`.

**The rule of `create_model(name, task=..., features_only=False, **kwargs)`**,
the same for every family: the builder of `name` makes the backbone; unless
`features_only` is set, the backbone is wrapped in the task model `task`,
which defaults to the family's task (`zoo.list_models` shows it: an image
classifier for vision backbones, none for text encoders, whose output is
already what a user wants from them). `task=None` returns the backbone.
Arguments the task model takes (`num_classes`, `pooling`, `dropout`,
`activation`, `head_dtype`, `preprocessor`) go to it, the rest to the
backbone; `dtype` goes to both. `features_only=True` returns the backbone
with its multi-level outputs: the feature pyramid `{"C2": ..., "C5": ...}`
for vision backbones, the hidden states of every layer `{"layer_0": ...}`
for text encoders.

`list_models` answers without importing any model code (so without Keras):
the registrations are read from the family modules' source, which is why
`register_family` and `register_model` take literal arguments only. A test
checks that this reading and the imported registry agree.
"""

import ast
import dataclasses
import fnmatch
import importlib
import inspect
import re
from pathlib import Path

from zoo.errors import UnknownModelError, ZooError, did_you_mean

_MODELS = {}
_FAMILIES = {}
_TASK_MODELS = {}
_CATALOGUE = None

#: Arguments `create_model` hands to both the backbone and the task model.
SHARED_ARGUMENTS = ("dtype",)
#: Constructor arguments of a task model that are not head options.
_TASK_PLUMBING = ("self", "backbone", "kwargs", "args", "name", "trainable")


@dataclasses.dataclass(frozen=True)
class FamilyInfo:
    """A model family, as its module declares it.

    Attributes:
        name: str, e.g. `"resnet"`.
        modality: `"vision"` or `"text"`.
        task: str or None, the task model its variants build by default.
        paper: str, the reference.
        module: str, the family's module.
        num_classes: int or None, the size of the default task's head when
            `create_model` is not given one (1000: ImageNet-1k).
    """

    name: str
    modality: str
    task: object
    paper: str
    module: str
    num_classes: object = None


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered variant.

    Attributes:
        name: str, the name `create_model` takes.
        family: str, its family (`"resnet"`).
        modality: `"vision"` or `"text"`.
        task: str or None, the task model `create_model` builds by default.
        module: str, the module that registers it.
        description: str, the first line of the builder's docstring.
        head: dict, default arguments of the default task's head (an
            EfficientNet-B7's dropout 0.5), which the caller's override.
    """

    name: str
    family: str
    modality: str
    task: object
    module: str
    description: str
    head: dict = dataclasses.field(default_factory=dict)

    @property
    def builder(self):
        """The builder function (imports the family's module if needed)."""
        if self.name not in _MODELS:
            _import(self.module)
        return _MODELS[self.name][1]


def _import(module):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ZooError(f"Cannot import {module}, which registers models: "
                       f"{e}") from e


# --- registration -------------------------------------------------------------


def table_decorator(table, key):
    """A decorator that stores what it decorates as `table[key]` and
    returns it unchanged: the body of the simple registries (tasks,
    benchmark peers, op benchmarks)."""

    def decorator(obj):
        table[key] = obj
        return obj

    return decorator


def register_family(name, *, modality, task=None, paper="", num_classes=None):
    """Declares the family of the calling module.

    Args:
        name: str, the family name.
        modality: `"vision"` or `"text"`.
        task: str or None, the task model its variants build by default
            (a name given to `register_task_model`).
        paper: str, the reference (authors, year, link).
        num_classes: int or None, the default task head's size when none is
            given (1000 for ImageNet-1k classifiers).

    Returns:
        `FamilyInfo`.
    """
    if modality not in ("vision", "text"):
        raise ValueError(f"modality={modality!r} is not 'vision' or 'text'.")
    module = inspect.stack()[1].frame.f_globals.get("__name__", "")
    info = FamilyInfo(name=name, modality=modality, task=task, paper=paper,
                      module=module, num_classes=num_classes)
    _FAMILIES[module] = info
    return info


def register_model(fn=None, *, name=None, task=..., head=None):
    """Registers a variant builder under its function name (or `name`).

    Usable bare (`@register_model`) or with arguments
    (`@register_model(name="x", task=None)`). The module must have called
    `register_family` first. Registering a name twice is an error unless it
    is the same function (module reloads).

    Args:
        fn: the builder, `fn(**kwargs) -> Backbone`.
        name: str, the registered name; defaults to `fn.__name__`.
        task: the task model built by default; defaults to the family's.
        head: dict of literal default arguments of that task's head
            (`{"dropout": 0.2}`).

    Returns:
        `fn` unchanged, so the builder stays callable directly.
    """

    def decorator(fn):
        entry_name = name or fn.__name__
        family = _FAMILIES.get(fn.__module__)
        if family is None:
            raise ValueError(
                f"{fn.__module__} registers {entry_name!r} without declaring "
                "its family: call register_family(...) at module level "
                "first.")
        existing = _MODELS.get(entry_name)
        if existing is not None and (
            existing[1].__qualname__ != fn.__qualname__
            or existing[1].__module__ != fn.__module__
        ):
            raise ValueError(
                f"Model name {entry_name!r} is already registered by "
                f"{existing[1].__module__}.{existing[1].__qualname__}."
            )
        doc = inspect.getdoc(fn) or ""
        entry = ModelEntry(
            name=entry_name,
            family=family.name,
            modality=family.modality,
            task=family.task if task is ... else task,
            module=fn.__module__,
            description=doc.splitlines()[0] if doc else "",
            head=dict(head or {}),
        )
        _MODELS[entry_name] = (entry, fn)
        return fn

    if fn is not None:
        return decorator(fn)
    return decorator


def register_variants(build, variants, *, task=...):
    """Registers one builder per entry of a variant table.

    For families whose variants differ by a table key only: each name is
    registered as `build(variant, **kwargs)`. `variants` must be a literal
    dict (`list_models` reads it from source, as it reads `register_model`).

    Args:
        build: `build(variant, **kwargs) -> Backbone`.
        variants: `{name: (variant, description, head)}`: the key `build`
            takes, the one-line description, and the default head
            arguments (a dict, as `register_model`'s `head`).
        task: as `register_model`'s.
    """
    for name, (variant, description, head) in variants.items():
        def builder(_variant=variant, **kwargs):
            return build(_variant, **kwargs)

        builder.__name__ = builder.__qualname__ = name
        builder.__module__ = build.__module__
        builder.__doc__ = description
        register_model(builder, task=task, head=head)


def register_task_model(name, *, needs_num_classes=True):
    """Registers a task model class under `name` (`"image_classifier"`).

    Args:
        name: str, what `task=` takes.
        needs_num_classes: bool, whether its head is sized by `num_classes`.
    """

    def decorator(cls):
        _TASK_MODELS[name] = (cls, bool(needs_num_classes))
        cls.task_name = name
        return cls

    return decorator


# --- the catalogue: registrations read from source -----------------------------


def _literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ...


def _decorator_call(decorator, name):
    """`(matched, keyword literals, positional literals)` for `@name` or
    `@name(...)`."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    called = (target.id if isinstance(target, ast.Name) else
              target.attr if isinstance(target, ast.Attribute) else None)
    if called != name:
        return False, {}, []
    if not isinstance(decorator, ast.Call):
        return True, {}, []
    return (True, {k.arg: _literal(k.value) for k in decorator.keywords},
            [_literal(a) for a in decorator.args])


def _read_module(path, module):
    """Families, models and task models registered in one source file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    family = None
    models, tasks = [], {}
    for node in tree.body:
        value = getattr(node, "value", None)
        if isinstance(value, ast.Call):
            matched, keywords, positional = _decorator_call(
                value, "register_family")
            if matched:
                family = FamilyInfo(
                    name=positional[0] if positional else keywords.get("name"),
                    modality=keywords.get("modality"),
                    task=keywords.get("task"),
                    paper=keywords.get("paper", ""),
                    module=module)
        if isinstance(node, ast.Expr) and isinstance(value, ast.Call):
            matched, keywords, _ = _decorator_call(value, "register_variants")
            if matched and len(value.args) == 2:
                for name, (_, description, head) in _literal(
                        value.args[1]).items():
                    models.append((name, keywords.get("task", ...),
                                   description, head or {}))
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                matched, keywords, _ = _decorator_call(decorator,
                                                       "register_model")
                if matched:
                    doc = ast.get_docstring(node) or ""
                    models.append((keywords.get("name") or node.name,
                                   keywords.get("task", ...),
                                   doc.splitlines()[0] if doc else "",
                                   keywords.get("head") or {}))
        if isinstance(node, ast.ClassDef):
            for decorator in node.decorator_list:
                matched, keywords, positional = _decorator_call(
                    decorator, "register_task_model")
                if matched and positional:
                    tasks[positional[0]] = (module, node.name)
    entries = {}
    for name, task, description, head in models:
        entries[name] = ModelEntry(
            name=name, family=family.name if family else "",
            modality=family.modality if family else "",
            task=(family.task if family else None) if task is ... else task,
            module=module, description=description, head=head)
    return entries, tasks


def _catalogue():
    """`(models, task models)` registered anywhere in the `zoo` package,
    read from source without importing it."""
    global _CATALOGUE
    if _CATALOGUE is None:
        root = Path(__file__).resolve().parent
        models, tasks = {}, {}
        for path in sorted(root.rglob("*.py")):
            text = path.read_text()
            if not re.search(r"register_(model|task_model|variants)\b", text):
                continue
            if path.name == "registry.py" and path.parent == root:
                continue
            parts = path.relative_to(root.parent).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found, found_tasks = _read_module(path, ".".join(parts))
            models.update(found)
            tasks.update(found_tasks)
        _CATALOGUE = (models, tasks)
    return _CATALOGUE


_KERAS_CLASS = re.compile(
    r"register_keras_serializable\(\s*package=\"zoo\"\s*\)\s*\n"
    r"class\s+(\w+)")


def import_keras_class(registered_name):
    """Imports the zoo module that defines and registers the Keras class
    `registered_name` (`"zoo>ImageClassifier"`), found by reading the
    sources; returns the class, or None when no zoo module defines it."""
    import keras

    cls = keras.saving.get_registered_object(registered_name)
    package, _, name = (registered_name or "").partition(">")
    if cls is not None or package != "zoo" or not name:
        return cls
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        if name not in _KERAS_CLASS.findall(path.read_text()):
            continue
        parts = path.relative_to(root.parent).with_suffix("").parts
        _import(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        return keras.saving.get_registered_object(registered_name)
    return None


def deserialize(spec):
    """`keras.saving.deserialize_keras_object(spec)`, after importing the
    zoo modules that register the classes `spec` names at any depth (a
    fresh process has not imported them)."""
    import keras

    def visit(value):
        if isinstance(value, dict):
            name = value.get("registered_name")
            if isinstance(name, str) and name.startswith("zoo>"):
                import_keras_class(name)
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(spec)
    return keras.saving.deserialize_keras_object(spec)


def catalogue_entries():
    """`{name: ModelEntry}` as read from the source files (for tests)."""
    return dict(_catalogue()[0])


def _all_entries():
    entries = dict(_catalogue()[0])
    entries.update({name: entry for name, (entry, _) in _MODELS.items()})
    return entries


# --- queries -----------------------------------------------------------------------


def natural_key(name):
    """Sort key that orders digits by value: resnet18 < resnet50 < resnet101."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


#: Short task names `list_models(task=...)` also accepts.
TASK_ALIASES = {
    "classification": "image_classifier",
    "detection": "object_detector",
    "segmentation": "semantic_segmenter",
    "generation": "causal_lm",
    "embedding": None,
}


def list_models(pattern="*", *, task=..., modality=None, family=None):
    """Names of the registered models that match, sorted naturally.

    Args:
        pattern: str or list of str, shell-style wildcards (`"resnet*"`).
            A name matches when it matches any of the patterns.
        task: keep the models whose default task is this (a task model
            name such as `"image_classifier"`, or `"classification"`,
            `"detection"`, `"segmentation"`, `"generation"`, `"embedding"`
            (encoders without a task head); None: the same as
            `"embedding"`).
        modality: keep `"vision"` or `"text"` models.
        family: keep one family (`"resnet"`).

    Returns:
        list of str.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    if task is not ...:
        task = TASK_ALIASES.get(task, task)
    names = []
    for name, entry in _all_entries().items():
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        if task is not ... and entry.task != task:
            continue
        if modality is not None and entry.modality != modality:
            continue
        if family is not None and entry.family != family:
            continue
        names.append(name)
    return sorted(names, key=natural_key)


def get_model_entry(name):
    """The `ModelEntry` of `name`, without importing its module.

    Raises:
        UnknownModelError: `name` is not registered; the message lists the
            closest registered names.
    """
    entries = _all_entries()
    if name not in entries:
        raise UnknownModelError(
            f"Unknown model {name!r}.{did_you_mean(name, entries)} "
            "See zoo.list_models() for every registered name."
        )
    return entries[name]


def get_family(name):
    """The `FamilyInfo` of a registered model (imports its module)."""
    entry = get_model_entry(name)
    _import(entry.module)
    return _FAMILIES[entry.module]


def list_task_models():
    """Names of the registered task models, sorted."""
    return sorted(set(_catalogue()[1]) | set(_TASK_MODELS))


def get_task_model(name):
    """`(class, needs_num_classes)` of the task model `name`.

    Raises:
        ZooError (a `ValueError`): an unknown name, listing the known ones.
    """
    if name not in _TASK_MODELS:
        module = _catalogue()[1].get(name, (None,))[0]
        if module is not None:
            _import(module)
    if name not in _TASK_MODELS:
        from zoo.errors import PresetError

        known = list_task_models()
        raise PresetError(
            f"Unknown task {name!r}.{did_you_mean(name, known)} Known tasks:"
            f" {known}."
        )
    return _TASK_MODELS[name]


def task_arguments(task_cls):
    """The head arguments a task model's constructor takes."""
    parameters = inspect.signature(task_cls.__init__).parameters
    return {p for p in parameters if p not in _TASK_PLUMBING}


def split_task_arguments(task, kwargs):
    """`(task model arguments, backbone arguments)` of `kwargs` for `task`
    (None: everything goes to the backbone). `dtype` goes to both."""
    if task is None:
        return {}, dict(kwargs)
    cls, _ = get_task_model(task)
    accepted = task_arguments(cls)
    head = {k: v for k, v in kwargs.items() if k in accepted}
    rest = {k: v for k, v in kwargs.items()
            if k not in accepted or k in SHARED_ARGUMENTS}
    return head, rest


def build_task_model(task, backbone, num_classes=None, **kwargs):
    """Wraps `backbone` in the task model `task`.

    Raises:
        PresetError: an unknown task, or a missing / superfluous
            `num_classes`.
    """
    from zoo.errors import PresetError

    cls, needs_classes = get_task_model(task)
    if needs_classes:
        if num_classes is None:
            raise PresetError(
                f"task={task!r} needs num_classes (the size of its head), "
                f"e.g. num_classes=2.")
        kwargs["num_classes"] = num_classes
    elif num_classes is not None:
        raise PresetError(
            f"task={task!r} takes no num_classes (got {num_classes}).")
    return cls(backbone, **kwargs)


def create_model(name, *, task=..., features_only=False, **kwargs):
    """Builds the registered model `name` with random weights.

    See the module docstring for the rule every family follows. Keyword
    arguments whose value is `None` are dropped, so callers can pass
    optional settings straight through (as timm does).

    Args:
        name: str, a registered model name (see `list_models()`).
        task: the task model to build around the backbone; defaults to the
            family's (`get_model_entry(name).task`); None for the backbone.
        features_only: bool, return the backbone with multi-level outputs.
        **kwargs: backbone arguments (`input_shape`, `drop_path_rate`,
            `dtype`, ...) and task head arguments (`num_classes`,
            `dropout`, ...).

    Returns:
        keras.Model: the task model, or the backbone.

    Raises:
        UnknownModelError: `name` is not registered; the message lists the
            closest registered names.
        TypeError: an argument neither the backbone nor the task takes.
    """
    entry = get_model_entry(name)
    builder = entry.builder  # imports the family's module
    family = _FAMILIES[entry.module]
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if task is ...:
        task = entry.task
    if features_only:
        task = None
    outer_name = kwargs.pop("name", None)
    if task is not None and task == entry.task:
        if family.num_classes:
            kwargs.setdefault("num_classes", family.num_classes)
        for key, value in entry.head.items():
            kwargs.setdefault(key, value)
    head, rest = split_task_arguments(task, kwargs)
    if features_only:
        rest["features_only"] = True
    rest["name"] = (outer_name or name) if task is None else f"{name}_backbone"
    backbone = builder(**rest)
    if task is None:
        return backbone
    head["name"] = outer_name or name
    return build_task_model(task, backbone, **head)
