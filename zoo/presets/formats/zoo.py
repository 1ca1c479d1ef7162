"""zoo's own preset directories (`save_to_preset`): Keras configs and
`.weights.h5` files, every file hashed in `metadata.json`."""

from zoo.errors import CorruptFileError, PresetError
from zoo.presets.formats import PresetFormat, register_format


@register_format
class ZooFormat(PresetFormat):
    """`config.json` registers a `zoo>` class."""

    name = "zoo"

    def detects(self, config):
        return str(config.get("registered_name", "")).startswith("zoo>")

    def fetch(self, handle, config, fetch):
        from zoo.presets.directory import METADATA_FILE, read_json

        metadata = read_json(fetch(METADATA_FILE))
        files = metadata.get("files")
        if not isinstance(files, dict):
            raise PresetError(
                f"{handle}/{METADATA_FILE} lists no 'files'; a remote zoo "
                "preset must be saved with save_to_preset.")
        for name, info in files.items():
            if name in ("config.json", METADATA_FILE):
                continue
            digest = info.get("sha256") if isinstance(info, dict) else None
            fetch(name, f"sha256:{digest}" if digest else None)

    def load(self, path, config, options):
        from zoo.presets.directory import load_preset_directory

        try:
            return load_preset_directory(path, options)
        except CorruptFileError:
            raise
        except OSError as e:
            raise PresetError(f"Cannot read preset {path}: {e}") from None
