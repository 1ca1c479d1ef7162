"""XLA's oneDNN path for JAX on a CPU, chosen by default.

XLA's CPU compiler in the JAX wheels zoo installs has a oneDNN path, off
by default, and its default path (YNNPACK and XNNPACK fusions) is slower
here: ResNet-50 inference 12.0 img/s against 19.4 (docs/performance.md).
`import zoo` (and the `zoo` command, and the tests, which import it)
chooses the faster one for the JAX backend by setting `XLA_FLAGS` to
`ONEDNN_XLA_FLAGS` (the flags Intel publishes for recent JAX, YNNPACK
fusions turned off by an empty list instead of `invalid`, which logs an
error line at every compilation) when all of these hold:

- Keras' backend is JAX (`KERAS_BACKEND`, else `~/.keras/keras.json`);
- `XLA_FLAGS` is not set: flags a user sets are never changed;
- `ZOO_XLA_ONEDNN` is not `0` (the opt-out);
- JAX has not started its backend yet (XLA reads the flags once, when it
  creates its CPU client: `import zoo` before the first JAX computation).

The flags only concern XLA's CPU compiler. `state()` says what was decided, and `zoo bench` records it in every row.
"""

import json
import logging
import os
import sys

logger = logging.getLogger("zoo")

#: The oneDNN recipe: oneDNN custom calls for dots and convolutions, the
#: generic oneDNN, XNNPACK and YNNPACK rewrites off, and XLA's older CPU
#: fusion emitter. ResNet-50 inference here: 12.0 img/s without, 19.4 with
#: (docs/performance.md).
ONEDNN_XLA_FLAGS = (
    "--xla_cpu_experimental_onednn_custom_call=true "
    "--xla_cpu_use_onednn=false "
    "--xla_cpu_experimental_ynn_fusion_type= "
    "--xla_cpu_use_xnnpack=false "
    "--xla_backend_extra_options=xla_cpu_disable_new_fusion_emitter")

#: Environment variable: `0` keeps XLA's default CPU path.
OPT_OUT_VARIABLE = "ZOO_XLA_ONEDNN"

_state = {"xla_flags": "default", "reason": "not configured yet"}


def keras_backend_name():
    """The backend Keras will use, read as Keras reads it, without importing
    Keras: `KERAS_BACKEND`, else `backend` in `$KERAS_HOME/keras.json`
    (`~/.keras/keras.json`), else `"tensorflow"`."""
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def _jax_backend_started():
    bridge = sys.modules.get("jax._src.xla_bridge")
    return bool(getattr(bridge, "_backends", None))


def configure():
    """Sets `XLA_FLAGS` to `ONEDNN_XLA_FLAGS` where the module docstring
    says; otherwise leaves the environment alone. Returns `state()`."""
    flags = os.environ.get("XLA_FLAGS")
    if flags == ONEDNN_XLA_FLAGS:
        # Set by zoo, here or in the process that started this one.
        _state.update(xla_flags="onednn", reason="zoo's default on JAX")
    elif flags:
        _state.update(xla_flags="user", reason="XLA_FLAGS set by the user")
    elif keras_backend_name() != "jax":
        _state.update(xla_flags="default",
                      reason=f"the Keras backend is {keras_backend_name()}")
    elif os.environ.get(OPT_OUT_VARIABLE, "1").strip() == "0":
        _state.update(xla_flags="default", reason=f"{OPT_OUT_VARIABLE}=0")
    elif _jax_backend_started():
        _state.update(xla_flags="default",
                      reason="JAX had started before zoo was imported")
        logger.info("XLA's oneDNN path is off: JAX started its backend "
                    "before zoo was imported (import zoo first, or set "
                    "XLA_FLAGS yourself).")
    else:
        os.environ["XLA_FLAGS"] = ONEDNN_XLA_FLAGS
        _state.update(xla_flags="onednn", reason="zoo's default on JAX")
    return state()


def state():
    """`{"xla_flags": "onednn" | "user" | "default", "reason": ...,
    "value": the XLA_FLAGS in effect ("" when none)}`."""
    return {"xla_flags": _state["xla_flags"], "reason": _state["reason"],
            "value": os.environ.get("XLA_FLAGS", "")}
