"""A quiet command line: the backends' start-up logs filtered out.

TensorFlow, XLA and JAX print their C++ start-up lines (the absl banner,
`cudart_stub.cc`, `cpu_feature_guard.cc`, `cuInit` on machines without a
GPU, the oneDNN notice) straight to file descriptor 2, before and after
Python logging is set up, whatever `TF_CPP_MIN_LOG_LEVEL` says for some of
them. `quiet_backends()` sets the log levels the backends read (unless the
user set them) before anything imports them, and routes descriptor 2
through a filter that drops those lines and passes everything else through
unchanged. `--verbose` on any `zoo` command leaves all of it alone.
"""

import atexit
import logging
import os
import re
import sys
import threading

#: C++ log lines (glog format: `I0000 00:00:...  123 file.cc:31] ...`) and
#: the banner lines the backends print at start-up.
NOISE = re.compile(
    rb"^(?:"
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions:"
    rb"|[IW]\d{4} [\d:.]+\s+\d+ \S+\.(?:cc|h):\d+\]"
    rb"|E\d{4} [\d:.]+\s+\d+ (?:cuda_\w+|cuda_platform|gpu_\w+)\.cc:\d+\]"
    rb")"
)
_GLOG_START = re.compile(rb"^(?:[IWE]\d{0,4}|W(?:A(?:R(?:N(?:I(?:N(?:G)?)?)?)?)?)?|To )")

#: Python loggers of the backends, set to WARNING unless verbose.
BACKEND_LOGGERS = ("tensorflow", "absl", "jax", "jax._src", "h5py",
                   "keras")


class _Filter:
    def __init__(self):
        self.original = None
        self.thread = None

    def start(self):
        sys.stderr.flush()
        read_end, write_end = os.pipe()
        self.original = os.dup(2)
        os.dup2(write_end, 2)
        os.close(write_end)
        self.thread = threading.Thread(target=self._pump, args=(read_end,),
                                       daemon=True, name="stderr-filter")
        self.thread.start()
        atexit.register(self.stop)

    def _emit(self, data):
        if data:
            os.write(self.original, data)

    def _pump(self, read_end):
        pending = b""
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            out = [line + b"\n" for line in lines if not NOISE.match(line)]
            self._emit(b"".join(out))
            # A partial line that cannot be the start of a log line (a
            # progress bar, a prompt) goes out at once.
            if pending and (b"\r" in pending
                            or not _GLOG_START.match(pending)):
                self._emit(pending)
                pending = b""
        if pending and not NOISE.match(pending):
            self._emit(pending)
        os.close(read_end)

    def stop(self):
        if self.original is None:
            return
        try:
            sys.stderr.flush()
        except (ValueError, OSError):
            pass
        os.dup2(self.original, 2)
        if self.thread is not None:
            self.thread.join(timeout=2.0)
        os.close(self.original)
        self.original = None


_FILTER = _Filter()


def quiet_backends(verbose=False):
    """Makes the backends quiet for a command-line run (see the module).

    Call before anything imports TensorFlow or JAX. With `verbose`, only
    the Python logging format is set.
    """
    level = logging.INFO
    logging.basicConfig(level=level, format="%(message)s")
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    for name in BACKEND_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if _FILTER.original is None:
        try:
            _FILTER.start()
        except OSError:  # no descriptor 2 (a detached process): nothing to do
            pass
