"""Typed, strict configs: dataclasses loaded from YAML and overridden by path.

```python
@dataclasses.dataclass
class DataConfig(Config):
    input_path: str = ""
    global_batch_size: int = 0

cfg = ExperimentConfig.from_yaml("exp.yaml")
cfg.override("trainer.train_steps=200,task.train_data.global_batch_size=64")
cfg.override({"runtime": {"run_eagerly": True}})
cfg.to_yaml("params.yaml")
```

Rules, as in the Model Garden's `hyperparams`:

- every key must exist: an unknown key raises `ConfigError` naming its dotted
  path and the closest valid keys;
- values are checked against the field's type (`int`, `float`, `bool`, `str`,
  `Optional[...]`, `list[...]`, `tuple[...]`, unions, nested configs); ints
  widen to floats, nothing else is coerced; a mismatch names the path and the
  expected type;
- a `OneOfConfig` holds several alternatives and a `type` naming the one in
  use, in the YAML shape `{type: sgd, sgd: {momentum: 0.9}}`; a
  `RegisteredOneOfConfig` takes its alternatives from a registry that model
  families add to (`training.registry.register_backbone`), so a backbone the
  Model Garden has and zoo lacks is named as such rather than as a typo;
- cross-field rules (`validate`) run once, on the final config: every file
  and override is merged first (`override(..., validate=False)`), then
  `validate_all()` checks the result, so a later override can repair a
  value an earlier file set. Types are checked as each value is merged.
"""

import copy
import dataclasses
import difflib
import os
import types
import typing

import yaml

from zoo.errors import ZooError


class ConfigError(ZooError, ValueError):
    """A config key, value or override that is not valid."""


def config_field(factory):
    """A dataclass field whose default is `factory()` (a fresh list, dict or
    nested config for every instance)."""
    return dataclasses.field(default_factory=factory)


_NONE_TYPE = type(None)


def _type_name(tp):
    if tp is _NONE_TYPE:
        return "None"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _closest(key, keys):
    matches = difflib.get_close_matches(key, list(keys), n=3, cutoff=0.5)
    if matches:
        return " Did you mean: " + ", ".join(repr(m) for m in matches) + "?"
    return " Valid keys: " + ", ".join(sorted(keys)) + "."


def _join(path, key):
    return f"{path}.{key}" if path else str(key)


def _convert(value, tp, path):
    """Checks `value` against the annotation `tp`; returns the stored value."""
    origin = typing.get_origin(tp)
    if tp is typing.Any:
        return copy.deepcopy(value)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and _NONE_TYPE in args:
            return None
        errors = []
        # Nested configs first, so a dict becomes a config when one fits.
        ordered = sorted(
            (a for a in args if a is not _NONE_TYPE),
            key=lambda a: 0 if isinstance(a, type) and issubclass(a, Config)
            else 1,
        )
        for arg in ordered:
            try:
                return _convert(value, arg, path)
            except ConfigError as e:
                errors.append(e)
        expected = " or ".join(_type_name(a) for a in args)
        raise ConfigError(
            f"{path}: expected {expected}, got {type(value).__name__} "
            f"{value!r}."
        )
    if isinstance(tp, type) and issubclass(tp, Config):
        if isinstance(value, tp):
            return copy.deepcopy(value)
        if isinstance(value, dict):
            return tp.from_dict(value, path=path, validate=False)
        raise ConfigError(
            f"{path}: expected a mapping for {tp.__name__}, got "
            f"{type(value).__name__} {value!r}."
        )
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(
                f"{path}: expected a list, got {type(value).__name__} "
                f"{value!r}."
            )
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(
                    f"{path}: expected {len(args)} items, got {len(value)}."
                )
            items = [_convert(v, a, f"{path}[{i}]")
                     for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_type = args[0] if args else typing.Any
            items = [_convert(v, item_type, f"{path}[{i}]")
                     for i, v in enumerate(value)]
        return list(items)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(
                f"{path}: expected a mapping, got {type(value).__name__} "
                f"{value!r}."
            )
        return copy.deepcopy(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(
                f"{path}: expected float, got {type(value).__name__} "
                f"{value!r}."
            )
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"{path}: expected int, got {type(value).__name__} {value!r}."
            )
        return value
    if tp is bool or tp is str:
        if not isinstance(value, tp):
            raise ConfigError(
                f"{path}: expected {tp.__name__}, got {type(value).__name__} "
                f"{value!r}."
            )
        return value
    raise ConfigError(f"{path}: unsupported field type {_type_name(tp)}.")


@dataclasses.dataclass
class Config:
    """Base of every config: strict loading, overrides, YAML round trips."""

    @classmethod
    def _field_types(cls):
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, data, path="", validate=True):
        """Builds the config from a nested dict, strictly.

        Args:
            data: dict of field values; nested configs as dicts.
            path: dotted prefix used in error messages.
            validate: run `validate_all` on the result.

        Raises:
            ConfigError: unknown key, a value of the wrong type, or (with
                `validate`) a broken cross-field rule.
        """
        config = cls()
        config._update(data or {}, path)
        if validate:
            config.validate_all(path)
        return config

    def _update(self, data, path):
        if not isinstance(data, dict):
            raise ConfigError(
                f"{path or 'config'}: expected a mapping, got "
                f"{type(data).__name__} {data!r}."
            )
        types_ = self._field_types()
        for key, value in data.items():
            if key not in types_:
                raise ConfigError(
                    f"Unknown config key {_join(path, key)!r}."
                    f"{_closest(str(key), types_)}"
                )
            current = getattr(self, key)
            field_path = _join(path, key)
            if isinstance(current, Config) and isinstance(value, dict):
                current._update(value, field_path)
            elif current is None and isinstance(value, dict) and (
                _config_class(types_[key]) is not None
            ):
                nested = _config_class(types_[key])()
                nested._update(value, field_path)
                setattr(self, key, nested)
            else:
                setattr(self, key, _convert(value, types_[key], field_path))

    def validate(self, path=""):
        """Checks this config's own cross-field rules; subclasses raise
        `ConfigError`. Nested configs are checked by `validate_all`."""

    def validate_all(self, path=""):
        """Validates every nested config, innermost first, then this one.

        Raises:
            ConfigError: the first rule broken, naming its dotted key.
        """
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            field_path = _join(path, field.name)
            if isinstance(value, Config):
                value.validate_all(field_path)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, Config):
                        item.validate_all(f"{field_path}[{i}]")
        self.validate(path)
        return self

    # --- overrides ----------------------------------------------------------

    def override(self, overrides, path="", validate=True):
        """Applies overrides in place and returns self.

        Args:
            overrides: a dict (nested, or with dotted keys), a
                `"a.b=1,c.d='x'"` string, a YAML string, or a YAML file path.
            path: dotted prefix of this config, for messages.
            validate: run `validate_all` afterwards; pass False while more
                overrides are to come, and validate the final config once.

        Raises:
            ConfigError: an unknown key, a wrong type, a malformed string, or
                (with `validate`) a broken cross-field rule.
        """
        if isinstance(overrides, (str, os.PathLike)):
            overrides = parse_overrides(str(overrides))
        if not isinstance(overrides, dict):
            raise ConfigError(
                f"Overrides must be a mapping or a string, got "
                f"{type(overrides).__name__}."
            )
        self._update(_nest_dotted(overrides), path)
        if validate:
            self.validate_all(path)
        return self

    # --- (de)serialisation ---------------------------------------------------

    def as_dict(self):
        """The config as nested plain dicts and lists (YAML-ready)."""
        result = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            result[field.name] = _plain(value)
        return result

    @classmethod
    def from_yaml(cls, path):
        """Loads a YAML file (safe loader) into this config class.

        Raises:
            ConfigError: missing file, malformed YAML, or an invalid key/value.
        """
        return cls.from_dict(load_yaml_file(path))

    def to_yaml(self, path=None):
        """Writes the config as YAML (atomically) or returns the text."""
        text = yaml.safe_dump(self.as_dict(), sort_keys=False,
                              default_flow_style=False)
        if path is None:
            return text
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        return text

    def copy(self):
        """A deep copy."""
        return copy.deepcopy(self)


def _config_class(tp):
    """The Config subclass inside an annotation (`Optional[X]` -> X), or None."""
    if isinstance(tp, type) and issubclass(tp, Config):
        return tp
    for arg in typing.get_args(tp):
        if isinstance(arg, type) and issubclass(arg, Config):
            return arg
    return None


def _plain(value):
    if isinstance(value, Config):
        return value.as_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclasses.dataclass
class OneOfConfig(Config):
    """Alternatives of which `type` names the one in use (or None for none).

    Subclasses declare `type: Optional[str] = None` plus one field per
    alternative, e.g. `sgd: SGDConfig = SGDConfig()`.
    """

    type: typing.Optional[str] = None

    def get(self):
        """The selected alternative's config, or None when `type` is None."""
        if self.type is None:
            return None
        return getattr(self, self.type)

    def validate(self, path=""):
        if self.type is None:
            return
        names = [f.name for f in dataclasses.fields(self) if f.name != "type"]
        if self.type not in names:
            raise ConfigError(
                f"{_join(path, 'type')}: {self.type!r} is not one of "
                f"{names}.{_closest(self.type, names)}"
            )

    def validate_all(self, path=""):
        """Validates `type` and the selected alternative only."""
        self.validate(path)
        selected = self.get()
        if isinstance(selected, Config):
            selected.validate_all(_join(path, self.type))
        return self


@dataclasses.dataclass(eq=False)
class RegisteredOneOfConfig(Config):
    """A one-of whose alternatives model families register.

    The YAML shape is the Model Garden's (`{type: resnet, resnet: {...}}`);
    the alternatives are the config classes registered under `kind` in
    `training.registry` (`@register_backbone("resnet")`), found when first
    needed. A type the Model Garden has but zoo does not build is refused
    as such (`backbone 'spinenet' is not built by zoo yet; available:
    resnet`), a misspelt one with the closest names.

    Subclasses set the class attribute `kind` (`"backbone"`, `"encoder"`,
    `"decoder"`, ...) and the default `type`.
    """

    kind: typing.ClassVar[str] = ""
    type: typing.Optional[str] = None

    def __post_init__(self):
        self._alternatives = {}

    def _registered(self):
        from training.registry import registered_configs

        return registered_configs(self.kind)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        registered = self._registered()
        if name in registered:
            return self._alternatives.setdefault(name, registered[name]())
        raise AttributeError(
            f"{type(self).__name__} has no alternative {name!r}")

    def get(self):
        """The selected alternative's config, or None when `type` is None."""
        if self.type is None:
            return None
        self._check_type("type")
        return getattr(self, self.type)

    def _refusal(self, name, path):
        from training.config.model_garden import unsupported_message

        registered = sorted(name for name, cls in self._registered().items()
                            if getattr(cls, "builds", True))
        message = unsupported_message(self.kind, name, registered)
        if message is None:
            message = (f"{name!r} is not a {self.kind} type."
                       f"{_closest(name, registered)} Available: "
                       f"{', '.join(registered)}.")
        return ConfigError(f"{path}: {message}")

    def _check_type(self, path):
        if self.type is not None and self.type not in self._registered():
            raise self._refusal(self.type, path)

    def _update(self, data, path):
        if not isinstance(data, dict):
            raise ConfigError(
                f"{path or 'config'}: expected a mapping, got "
                f"{type(data).__name__} {data!r}."
            )
        registered = self._registered()
        for key, value in data.items():
            field_path = _join(path, key)
            if key == "type":
                self.type = _convert(value, typing.Optional[str], field_path)
                continue
            if key not in registered:
                raise self._refusal(str(key), field_path)
            current = getattr(self, key)
            if isinstance(value, dict):
                current._update(value, field_path)
            else:
                self._alternatives[key] = _convert(value, registered[key],
                                                   field_path)

    def validate(self, path=""):
        self._check_type(_join(path, "type"))
        selected = self._registered().get(self.type)
        if selected is not None and not getattr(selected, "builds", True):
            # Parsed with its Model Garden keys, not built (ParseOnlyConfig).
            raise self._refusal(self.type, _join(path, "type"))

    def validate_all(self, path=""):
        """Validates `type` and the selected alternative only."""
        self.validate(path)
        selected = self.get()
        if selected is not None:
            selected.validate_all(_join(path, self.type))
        return self

    def _effective(self):
        """The alternatives worth writing: the selected one, and any other
        that differs from its defaults."""
        result = {}
        for name, config in sorted(self._alternatives.items()):
            if name == self.type or config != type(config)():
                result[name] = config
        if self.type is not None and self.type not in result and (
                self.type in self._registered()):
            result[self.type] = self.get()
        return result

    def as_dict(self):
        result = {"type": self.type}
        for name, config in self._effective().items():
            result[name] = config.as_dict()
        return result

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self):
        return f"{type(self).__name__}({self.as_dict()!r})"


def load_yaml_file(path):
    """Reads a YAML mapping from `path` with the safe loader."""
    if not os.path.isfile(path):
        raise ConfigError(f"Config file {path} does not exist.")
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level.")
    return data


def _split_top_level(text):
    """Splits on commas that are outside quotes and brackets."""
    parts, depth, quote, current = [], 0, None, []
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quote or depth:
        raise ConfigError(
            f"Unbalanced quotes or brackets in override string {text!r}."
        )
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_overrides(text):
    """Parses an override string, YAML text or YAML file into a dict.

    Accepted forms, tried in order:

    - a path to an existing YAML file;
    - `"a.b=1,c.d='x',e=[1, 2]"`: comma-separated `dotted.key=value`, each
      value read as YAML (so `1` is an int, `'x'` a string, `true` a bool);
    - YAML text: `"a: {b: 1}"`.

    Raises:
        ConfigError: naming the malformed part.
    """
    text = text.strip()
    if not text:
        return {}
    if os.path.isfile(text):
        return load_yaml_file(text)
    if "=" in text.split(":", 1)[0] or ":" not in text:
        result = {}
        for item in _split_top_level(text):
            if "=" not in item:
                raise ConfigError(
                    f"Override {item!r} in {text!r} is not of the form "
                    "key=value."
                )
            key, raw = item.split("=", 1)
            key = key.strip()
            if not key or not all(part.isidentifier()
                                  for part in key.split(".")):
                raise ConfigError(
                    f"Override key {key!r} in {text!r} is not a dotted name."
                )
            try:
                result[key] = yaml.safe_load(raw) if raw.strip() else ""
            except yaml.YAMLError as e:
                raise ConfigError(
                    f"Override value {raw!r} for {key!r} is not valid: "
                    f"{e}"
                ) from None
        return result
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"Override text is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"Override {text!r} is neither key=value pairs nor a YAML "
            "mapping."
        )
    return data


def _nest_dotted(flat):
    """`{"a.b": 1, "a": {"c": 2}}` -> `{"a": {"b": 1, "c": 2}}`."""
    nested = {}
    for key, value in flat.items():
        parts = str(key).split(".")
        target = nested
        for part in parts[:-1]:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = {}
                target[part] = existing
            target = existing
        if isinstance(value, dict):
            value = _nest_dotted(value)
            if isinstance(target.get(parts[-1]), dict):
                target[parts[-1]].update(value)
                continue
        target[parts[-1]] = value
    return nested
