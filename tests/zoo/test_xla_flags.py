"""XLA's oneDNN path on JAX: chosen by `import zoo` unless the user decided,
and every family computes what XLA's default path computes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from zoo import xla_flags

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data",
                      "xla_flags_families.py")


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """A process environment to decide in: no XLA_FLAGS, no opt-out, no
    keras.json; restored afterwards (monkeypatch)."""
    # setenv first, so that undoing restores (or removes) what was there.
    for name in ("XLA_FLAGS", xla_flags.OPT_OUT_VARIABLE):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setattr(xla_flags, "_state", dict(xla_flags._state))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return monkeypatch


@pytest.mark.one_backend
def test_import_zoo_chooses_onednn_on_jax_only(environment, tmp_path):
    environment.setattr(xla_flags, "_jax_backend_started", lambda: False)
    environment.setenv("KERAS_BACKEND", "jax")
    assert xla_flags.configure()["xla_flags"] == "onednn"
    assert os.environ["XLA_FLAGS"] == xla_flags.ONEDNN_XLA_FLAGS
    # Inherited by a process zoo started: still zoo's choice.
    assert xla_flags.configure()["xla_flags"] == "onednn"

    environment.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    decided = xla_flags.configure()
    assert decided["xla_flags"] == "user"
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_enable_fast_math=false"

    environment.delenv("XLA_FLAGS")
    environment.setenv(xla_flags.OPT_OUT_VARIABLE, "0")
    assert xla_flags.configure()["xla_flags"] == "default"
    assert "XLA_FLAGS" not in os.environ

    environment.delenv(xla_flags.OPT_OUT_VARIABLE)
    environment.setenv("KERAS_BACKEND", "tensorflow")
    assert xla_flags.configure()["reason"] == "the Keras backend is tensorflow"
    assert "XLA_FLAGS" not in os.environ

    # keras.json decides when KERAS_BACKEND is not set, as in Keras.
    environment.delenv("KERAS_BACKEND")
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert xla_flags.keras_backend_name() == "jax"
    environment.setattr(xla_flags, "_jax_backend_started", lambda: True)
    assert xla_flags.configure()["reason"] == (
        "JAX had started before zoo was imported")
    assert "XLA_FLAGS" not in os.environ


def _start_families(path, opt_out):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["KERAS_BACKEND"] = "jax"
    env.pop(xla_flags.OPT_OUT_VARIABLE, None)
    if opt_out:
        env[xla_flags.OPT_OUT_VARIABLE] = "0"
    return subprocess.Popen([sys.executable, SCRIPT, str(path)], env=env,
                            stdout=subprocess.DEVNULL)


# The subprocesses run JAX whichever suite runs this; the JAX suite is the
# shorter one.
@pytest.mark.one_backend("jax")
def test_every_family_agrees_with_xlas_default_path(tmp_path):
    # Both at once: most of each is imports and compilation.
    paths = {"onednn": tmp_path / "onednn.npz",
             "default": tmp_path / "default.npz"}
    runs = {name: _start_families(path, opt_out=name == "default")
            for name, path in paths.items()}
    try:
        for name, run in runs.items():
            assert run.wait(timeout=600) == 0, name
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()
                run.wait()
    onednn, default = (np.load(paths[name]) for name in ("onednn",
                                                          "default"))
    state_onednn = json.loads(str(onednn["state"]))
    state_default = json.loads(str(default["state"]))
    assert state_onednn["xla_flags"] == "onednn"
    assert state_default["xla_flags"] == "default"
    # The flags reached XLA: its default path's YNNPACK matmul is gone.
    assert state_default["ynn_matmul"] and not state_onednn["ynn_matmul"]
    names = sorted(k for k in onednn.files if k != "state")
    assert names == sorted(k for k in default.files if k != "state")
    families = {k.split("/")[0] for k in names}
    assert families >= {"resnet", "efficientnet", "mobilenet", "convnext",
                        "vit", "bert", "albert", "llama", "gpt2",
                        "retinanet", "deeplab"}
    for name in names:
        got, expected = onednn[name], default[name]
        if name.startswith("llama_generate/"):
            # Greedy ids: exactly the same tokens.
            np.testing.assert_array_equal(got, expected, err_msg=name)
            continue
        # Outputs and gradients: float32 sums in another order, within
        # 1e-5 of their scale (measured here: 1e-7 at most).
        scale = max(1.0, float(np.max(np.abs(expected))))
        assert float(np.max(np.abs(got - expected))) <= 1e-5 * scale, name
