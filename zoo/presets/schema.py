"""The preset file format: a typed schema, validated when a file is read.

```yaml
name: resnet50
kind: image_classifier            # what the weights are (see KINDS)
description: ResNet-50 v1, keras.applications ImageNet weights.
architecture: resnet50            # a registered model
arguments: {block_variant: v1, bn_epsilon: 1.001e-5}
num_classes: 1000                 # the head in the weights
parameters: 25557032              # trainable, the published count
weights:
  uri: https://storage.googleapis.com/.../resnet50_weights_tf_dim_ordering_tf_kernels.h5
  hash: md5:2cb95161c43110f7111970584f804107
  converter: keras_applications   # a zoo.convert source
preprocessing: {image_size: [224, 224], crop_pct: 0.875, scale: 1.0,
                mean: [123.68, 116.779, 103.939], std: [1.0, 1.0, 1.0]}
license: MIT
origin: keras.applications.ResNet50
paper: https://arxiv.org/abs/1512.03385
```

A text encoder (`kind: text_encoder`) has no head (no `num_classes`),
names the files its tokenizer needs under `assets`, and has text
preprocessing; `uri` may list alternatives tried in order.

Every remote file carries a `hash`: `sha256:<hex>`, or the `md5:<hex>` a
publisher such as keras.applications gives; where the host publishes none,
`hash: unpublished` says so, and the download logs the sha256 it computed
so that it can be pinned. Files on this machine (`package://`, local paths)
need none.

This module imports neither Keras nor any model.
"""

import dataclasses
import urllib.parse
from typing import Optional

from zoo.errors import PresetError, did_you_mean

#: What a preset's weights are: a task model's name (weights with its head)
#: or a backbone kind (weights without a head).
KINDS = {
    "image_classifier": "image_classifier",
    "text_encoder": None,
    "image_backbone": None,
    "object_detector": "object_detector",
    "semantic_segmenter": "semantic_segmenter",
    "causal_lm": "causal_lm",
}

PRESET_KEYS = {
    "name", "kind", "description", "architecture", "arguments",
    "num_classes", "parameters", "weights", "preprocessing", "license",
    "origin", "paper", "assets",
}
REQUIRED_KEYS = {"name", "kind", "architecture", "weights"}
WEIGHTS_KEYS = {"uri", "hash", "converter"}
ASSET_KEYS = {"uri", "hash"}
#: The explicit "the host publishes no hash" marker.
UNPUBLISHED = "unpublished"
LOCAL_SCHEMES = ("", "file", "package")


def _type_error(path, where, expected, value):
    return PresetError(f"{path}: {where} must be {expected}, got "
                       f"{type(value).__name__} {value!r}.")


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """A file a preset needs: where it is and how to check it.

    Attributes:
        uris: tuple of str, alternatives tried in order.
        hash: `"sha256:<hex>"`, `"md5:<hex>"`, `"unpublished"`, or None for
            files on this machine only.
    """

    uris: tuple
    hash: Optional[str] = None

    @property
    def verified_hash(self):
        """The hash to check downloads against (None when unpublished)."""
        return None if self.hash == UNPUBLISHED else self.hash


@dataclasses.dataclass(frozen=True)
class WeightsSpec(FileSpec):
    """The weights file and the converter that reads it (`zoo.convert`)."""

    converter: str = "zoo"


@dataclasses.dataclass(frozen=True)
class ImagePreprocessing:
    """`zoo.ImagePreprocessor` arguments: the evaluation transform."""

    image_size: tuple = (224, 224)
    crop_pct: float = 1.0
    interpolation: str = "bilinear"
    antialias: bool = False
    scale: float = 1.0 / 255.0
    mean: tuple = (0.0, 0.0, 0.0)
    std: tuple = (1.0, 1.0, 1.0)

    def arguments(self):
        """The dict `ImagePreprocessor(**...)` takes."""
        return {"image_size": list(self.image_size),
                "crop_pct": self.crop_pct,
                "interpolation": self.interpolation,
                "antialias": self.antialias, "scale": self.scale,
                "mean": list(self.mean), "std": list(self.std)}


@dataclasses.dataclass(frozen=True)
class TextPreprocessing:
    """A tokenizer and packing length (`zoo.TextPreprocessor`).

    `vocabulary` names an entry of the preset's `assets`. `tokenizer:
    gguf` is the byte-level BPE inside a GGUF weights file (no assets);
    `sequence_length` is then the model's context.
    """

    tokenizer: str = "wordpiece"
    vocabulary: str = ""
    lowercase: bool = True
    strip_accents: Optional[bool] = None
    split_on_cjk: bool = True
    sequence_length: int = 128

    def arguments(self):
        """The dict `preprocessor_from_preset_config` takes."""
        result = dataclasses.asdict(self)
        if result["strip_accents"] is None:
            del result["strip_accents"]
        return result


_PREPROCESSING = {"image": ImagePreprocessing, "text": TextPreprocessing}


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    """A preset file, validated: what `list_presets()` reports.

    Attributes:
        name: str, the handle `from_preset` takes.
        kind: str, what the weights are (a key of `KINDS`).
        description: str.
        architecture: str, the registered model name.
        arguments: dict, extra builder arguments.
        num_classes: int, classes of the head in the weights; None for a
            backbone's weights.
        parameters: int, trainable parameters (the published count).
        weights: `WeightsSpec`.
        assets: dict file name -> `FileSpec` (vocabularies).
        preprocessing: `ImagePreprocessing` or `TextPreprocessing`.
        license: str.
        origin: str, who trained the weights and where they are published.
        paper: str.
        path: pathlib.Path of the YAML file.
    """

    name: str
    kind: str
    description: str
    architecture: str
    arguments: dict
    num_classes: Optional[int]
    parameters: int
    weights: WeightsSpec
    assets: dict
    preprocessing: object
    license: str
    origin: str
    paper: str
    path: object

    @property
    def task(self):
        """The task model the weights include (None: a backbone)."""
        return KINDS[self.kind]

    @property
    def is_text(self):
        """Whether this is a text preset (a tokenizer in its preprocessing)."""
        return isinstance(self.preprocessing, TextPreprocessing)

    @property
    def input_size(self):
        """`(height, width, channels)`, or `(sequence_length,)` for text."""
        p = self.preprocessing
        if self.is_text:
            return (p.sequence_length,)
        channels = int(self.arguments.get("input_shape", [0, 0, 3])[-1])
        return (int(p.image_size[0]), int(p.image_size[1]), channels)

    @property
    def weights_uri(self):
        """The first of the weights' URIs."""
        return self.weights.uris[0]

    @property
    def weights_hash(self):
        """The weights' hash as written (`"unpublished"` included)."""
        return self.weights.hash

    def __str__(self):
        if self.is_text:
            size = f"{self.input_size[0]} tokens"
        else:
            h, w, c = self.input_size
            size = f"{h}x{w}x{c}"
        return (
            f"{self.name:<20} {self.parameters / 1e6:7.2f}M  {size:<10} "
            f"{self.kind:<16} {self.weights.converter:<18} {self.license}"
        )


def _uris(value, path, where):
    uris = value if isinstance(value, (list, tuple)) else [value]
    if not uris or not all(isinstance(u, str) and u for u in uris):
        raise PresetError(f"{path}: {where} 'uri' must be a URI or a list of "
                          f"URIs, got {value!r}.")
    return tuple(uris)


def _is_local(uri):
    return urllib.parse.urlparse(uri).scheme in LOCAL_SCHEMES


def _checked_hash(value, uris, path, where):
    from zoo.presets.download import parse_hash

    if value is None:
        remote = [u for u in uris if not _is_local(u)]
        if remote:
            raise PresetError(
                f"{path}: {where} has remote sources ({remote[0]}) but no "
                "'hash'; give sha256:<hex> (or the publisher's md5:<hex>), "
                f"or hash: {UNPUBLISHED} when the host publishes none.")
        return None
    if value == UNPUBLISHED:
        return value
    try:
        parse_hash(value)
    except ValueError as e:
        raise PresetError(f"{path}: {where} 'hash': {e}") from None
    return str(value)


def _file_spec(spec, path, where, keys, cls=FileSpec, **extra):
    if not isinstance(spec, dict):
        spec = {"uri": spec}
    unknown = set(spec) - keys
    if unknown or "uri" not in spec:
        key = sorted(unknown)[0] if unknown else "uri"
        raise PresetError(
            f"{path}: {where} needs 'uri' (and {sorted(keys - {'uri'})}); "
            f"got {key!r}.{did_you_mean(key, keys)}")
    uris = _uris(spec["uri"], path, where)
    return cls(uris=uris,
               hash=_checked_hash(spec.get("hash"), uris, path, where),
               **extra)


def _preprocessing(data, kind, path):
    raw = data.get("preprocessing") or {}
    if not isinstance(raw, dict):
        raise _type_error(path, "'preprocessing'", "a mapping", raw)
    text = "tokenizer" in raw or kind in ("text_encoder", "causal_lm")
    cls = _PREPROCESSING["text" if text else "image"]
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - fields
    if unknown:
        key = sorted(unknown)[0]
        raise PresetError(
            f"{path}: unknown {'text' if text else 'image'} preprocessing key"
            f" {key!r}.{did_you_mean(key, fields)} Valid: {sorted(fields)}.")
    values = {}
    for key, value in raw.items():
        if key in ("image_size", "mean", "std"):
            if not isinstance(value, (list, tuple)):
                raise _type_error(path, f"preprocessing.{key}", "a list",
                                  value)
            value = tuple(float(v) if key != "image_size" else int(v)
                          for v in value)
        elif key in ("crop_pct", "scale"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _type_error(path, f"preprocessing.{key}", "a number",
                                  value)
            value = float(value)
        elif key == "sequence_length":
            if isinstance(value, bool) or not isinstance(value, int):
                raise _type_error(path, f"preprocessing.{key}", "an int",
                                  value)
        values[key] = value
    return cls(**values)


def parse_preset(data, path):
    """Validates a preset file's parsed YAML into a `PresetInfo`.

    Raises:
        PresetError: an unknown or missing key, a bad kind, hash or type;
            the message names the file and the key.
    """
    if not isinstance(data, dict):
        raise PresetError(f"{path} must hold a mapping of preset fields.")
    unknown = set(data) - PRESET_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise PresetError(
            f"{path}: unknown preset key {key!r}."
            f"{did_you_mean(key, PRESET_KEYS)}")
    missing = REQUIRED_KEYS - set(data)
    if missing:
        raise PresetError(f"{path}: missing keys {sorted(missing)}.")
    kind = data["kind"]
    if kind not in KINDS:
        raise PresetError(
            f"{path}: kind {kind!r} is not one of {sorted(KINDS)}."
            f"{did_you_mean(str(kind), KINDS)}")
    weights = data["weights"] or {}
    if not isinstance(weights, dict) or "converter" not in weights:
        raise PresetError(
            f"{path}: 'weights' needs 'uri', 'hash' and 'converter' (a "
            "zoo.convert source, e.g. timm); got "
            f"{sorted(weights) if isinstance(weights, dict) else weights!r}.")
    weights_spec = _file_spec(weights, path, "weights", WEIGHTS_KEYS,
                              cls=WeightsSpec,
                              converter=str(weights["converter"]))
    assets = {str(name): _file_spec(spec, path, f"asset {name!r}",
                                    ASSET_KEYS)
              for name, spec in (data.get("assets") or {}).items()}
    num_classes = data.get("num_classes")
    if KINDS[kind] is None and num_classes is not None:
        raise PresetError(
            f"{path}: kind {kind!r} weights have no head, so no num_classes "
            f"(got {num_classes}).")
    if kind == "image_classifier" and num_classes is None:
        raise PresetError(f"{path}: kind 'image_classifier' needs "
                          "num_classes (the head in the weights).")
    arguments = data.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise _type_error(path, "'arguments'", "a mapping", arguments)
    preprocessing = _preprocessing(data, kind, path)
    if isinstance(preprocessing, TextPreprocessing) and (
            preprocessing.tokenizer != "gguf"
            and preprocessing.vocabulary not in assets):
        raise PresetError(
            f"{path}: preprocessing.vocabulary {preprocessing.vocabulary!r} "
            f"names no asset; assets: {sorted(assets)}.")
    return PresetInfo(
        name=str(data["name"]),
        kind=kind,
        description=str(data.get("description", "")),
        architecture=str(data["architecture"]),
        arguments=dict(arguments),
        num_classes=None if num_classes is None else int(num_classes),
        parameters=int(data.get("parameters", 0)),
        weights=weights_spec,
        assets=assets,
        preprocessing=preprocessing,
        license=str(data.get("license", "unknown")),
        origin=str(data.get("origin", "")),
        paper=str(data.get("paper", "")),
        path=path,
    )
