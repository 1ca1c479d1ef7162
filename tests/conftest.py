"""Shared fixtures: backend check, an isolated cache, a loopback HTTP server."""

import functools
import gc
import hashlib
import http.server
import os
import threading
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402


def pytest_configure(config):
    wanted = os.environ.get("KERAS_BACKEND")
    actual = keras.backend.backend()
    if wanted and wanted != actual:
        raise pytest.UsageError(
            f"KERAS_BACKEND={wanted} was asked for but Keras runs on {actual}."
        )
    # The backends' and libraries' modules are some 400,000 objects that
    # live as long as the process: out of the collector's reach, each full
    # collection scans only what the tests made (measured: the collector
    # took 12% of a suite's time without this).
    gc.collect()
    gc.freeze()


#: The backend that runs the tests marked `one_backend` (without an
#: argument; `one_backend("jax")` names another).
ONE_BACKEND = "tensorflow"


def pytest_collection_modifyitems(config, items):
    """Deselects `one_backend` tests except on their one backend.

    What those tests check (configuration parsing, docs, subprocess
    recipes, resumption after SIGKILL, log formatting, tf.data pipelines,
    parameter counts) is the same on every backend, and CI runs every suite
    on TensorFlow and on JAX, side by side; running them once keeps the
    suite within its budget, and naming JAX for some of them (the
    `one_backend("jax")` ones) keeps the two suites about equally long.
    The deselected count is printed in the summary line.
    """
    backend = keras.backend.backend()
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("one_backend")
        runs_on = (marker.args[0] if marker is not None and marker.args
                   else ONE_BACKEND)
        (drop if marker is not None and runs_on != backend else keep).append(
            item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep

def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(autouse=True)
def zoo_home(tmp_path, monkeypatch):
    """Every test gets an empty cache and starts online."""
    home = tmp_path / "zoo_home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    for var in ("ZOO_OFFLINE", "HF_HUB_OFFLINE", "ZOO_PRESETS_PATH",
                "ZOO_PROGRESS", "ZOO_HF_DOWNLOADER"):
        monkeypatch.delenv(var, raising=False)
    keras.utils.set_random_seed(0)
    return home


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory and records every request."""

    def __init__(self, *args, server_state, **kwargs):
        self.server_state = server_state
        super().__init__(*args, directory=server_state.root, **kwargs)

    def _record(self):
        self.server_state.requests.append((self.command, self.path))

    def do_GET(self):
        self._record()
        super().do_GET()

    def do_HEAD(self):
        self._record()
        super().do_HEAD()

    def end_headers(self):
        for key, value in self.server_state.extra_headers.items():
            self.send_header(key, value)
        if self.server_state.hub_headers:
            # What a Hugging Face Hub sends with a file: its commit and an
            # ETag naming the content (huggingface_hub keys its cache on it).
            path = self.translate_path(self.path)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                self.send_header("ETag", f'"{digest}"')
                self.send_header("X-Repo-Commit", "a" * 40)
        super().end_headers()

    def log_message(self, *args):
        pass


class LoopbackServer:
    """An HTTP server on 127.0.0.1 serving `root`, for download tests.

    Attributes:
        url: base URL, e.g. `http://127.0.0.1:43123`.
        requests: list of (method, path) received so far.
    """

    def __init__(self, root):
        self.root = str(root)
        self.requests = []
        self.extra_headers = {}
        self.hub_headers = False
        handler = functools.partial(_Handler, server_state=self)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def paths(self):
        """Paths of the GET requests received."""
        return [p for m, p in self.requests if m == "GET"]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server(tmp_path):
    """A `LoopbackServer` over a fresh `served/` directory."""
    root = Path(tmp_path) / "served"
    root.mkdir()
    server = LoopbackServer(root)
    yield server
    server.close()
