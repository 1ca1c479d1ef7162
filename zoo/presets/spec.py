"""Loading a preset file (`zoo.presets.schema.PresetInfo`): the registered
architecture, the weights through their converter, the preprocessing."""

import logging
import urllib.parse
from pathlib import Path

from zoo.errors import CorruptFileError
from zoo.presets import loading

logger = logging.getLogger("zoo")


def fetch_assets(info, load_weights):
    """Local paths of a preset's assets, or None.

    With `load_weights=False` nothing is downloaded: only assets already on
    this machine (packages, local files, the cache) are used.
    """
    from zoo.presets.download import fetch_first

    paths = {}
    for name, spec in info.assets.items():
        uris = spec.uris
        if not load_weights:
            uris = [u for u in uris
                    if urllib.parse.urlparse(u).scheme in ("", "file",
                                                           "package")]
            if not uris:
                return None
            try:
                paths[name] = fetch_first(uris, spec.verified_hash)
            except (OSError, CorruptFileError):
                return None
        else:
            paths[name] = fetch_first(uris, spec.hash)
    return paths


def _weights_directory(info):
    """The local preset directory a preset's weights are, or None when they
    are one file.

    A `kaggle://` URI is a keras-hub preset directory, fetched by
    kagglehub (which pins the version in the handle and keeps its own
    cache); a local folder is used as it is.
    """
    from zoo.presets.sources import fetch_preset_directory

    for uri in info.weights.uris:
        if uri.startswith("kaggle://"):
            return fetch_preset_directory(uri)
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme in ("", "file"):
            local = Path(parsed.path if parsed.scheme == "file" else uri)
            if local.is_dir():
                return local
    return None


def load_spec(info, options):
    """Builds the model a `PresetInfo` describes, with its weights.

    Args:
        info: `PresetInfo`.
        options: `loading.LoadOptions`.
    """
    from zoo.presets.download import fetch_first
    from zoo.registry import create_model

    source = f"{info.name} ({info.weights_uri})"
    directory = _weights_directory(info) if options.load_weights else None
    if directory is not None:
        # The weights are a whole preset directory (a keras-hub preset):
        # its own format builds the model.
        from zoo.presets.formats import load_directory

        return load_directory(directory, options)
    plan = loading.plan_model(options, default_task=info.task,
                              head_classes=info.num_classes, source=source)
    model = create_model(info.architecture, task=plan.task,
                         **{**info.arguments, **plan.backbone_kwargs,
                            **plan.head_kwargs,
                            "num_classes": plan.num_classes})
    if options.load_weights:
        path = fetch_first(info.weights.uris, info.weights.hash)
        loading.load_converted(model, path, info.weights.converter,
                               include_head=plan.include_head, source=source)
        loading.say_new_head(plan, model, info.name, info.num_classes)
    if info.weights.converter == "gguf":
        # A GGUF file carries its own tokenizer and chat template.
        if options.load_weights:
            loading.attach_gguf_tokenizer(model, path)
        return model
    if info.is_text:
        assets = fetch_assets(info, options.load_weights)
        if assets is None:
            logger.info("%s: its tokenizer files are not on this machine and"
                        " load_weights=False downloads nothing; no "
                        "preprocessor attached.", info.name)
        else:
            loading.attach_text_preprocessor(model, loading.text_preprocessor(
                info.preprocessing.arguments(), assets))
    else:
        loading.attach_image_preprocessor(model,
                                          info.preprocessing.arguments())
    return model
