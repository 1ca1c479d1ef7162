"""Distribution on this CPU: data parallelism over virtual devices equals one
device, and two processes on 127.0.0.1 train together and agree.

Each run is a real `zoo train` subprocess (device counts are fixed when a
backend starts). On the TensorFlow backend the strategies are TF's
(MirroredStrategy, MultiWorkerMirroredStrategy); on JAX they are
keras.distribution's (DataParallel, multi-process with gloo collectives).
"""

import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from training import checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BACKEND = keras.backend.backend()

# Batch norm in inference mode: TF's MirroredStrategy normalises each replica
# over its own half of the batch, which one device cannot reproduce.
COMMON = ",".join([
    "trainer.train_steps=4", "trainer.steps_per_loop=2",
    "trainer.checkpoint_interval=4", "trainer.validation_interval=4",
    "trainer.best_checkpoint_export_subdir=''",
    "task.train_data.global_batch_size=8",
    "task.model.backbone.resnet.bn_trainable=false",
    "trainer.optimizer_config.learning_rate.cosine.decay_steps=4",
    "trainer.optimizer_config.warmup.linear.warmup_steps=0",
    "runtime.deterministic_ops=true",
])


def _train(model_dir, overrides, env=None, wait=True):
    command = [sys.executable, "-m", "training.cli", "train",
               "--experiment", "resnet_digits", "--mode", "train",
               "--params_override", f"{COMMON},{overrides}",
               "--model_dir", str(model_dir)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO,
               **(env or {}))
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    if not wait:
        return process
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return output


def _final_weights(directory):
    _, path = checkpoints.list_checkpoints(str(directory))[-1]
    model, _, meta = checkpoints.read_checkpoint(path)
    assert meta["step"] == 4
    return model


def _assert_same(a, b, tolerance=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=tolerance, atol=tolerance)


def test_two_device_data_parallel_equals_one_device(tmp_path):
    strategy = "mirrored" if BACKEND == "tensorflow" else "data_parallel"
    single = _train(tmp_path / "single", "runtime.distribution_strategy=off")
    double = _train(tmp_path / "double",
                    f"runtime.distribution_strategy={strategy},"
                    "runtime.num_cpu_devices=2")
    assert "Resuming" not in single + double
    assert f"Distribution: {strategy}, 2 replica(s)" in double
    _assert_same(_final_weights(tmp_path / "double"),
                 _final_weights(tmp_path / "single"))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorflow_refuses_multi_worker_mirrored_naming_the_jax_route():
    """Keras 3 cannot fit under MultiWorkerMirroredStrategy; the config says
    so and points at the JAX route (the check needs no TensorFlow run)."""
    from training.config import ConfigError, RuntimeConfig
    from training.distribution import _tensorflow_distribution

    runtime = RuntimeConfig(distribution_strategy="multi_worker_mirrored",
                            worker_hosts="127.0.0.1:1,127.0.0.1:2")
    with pytest.raises(ConfigError) as error:
        _tensorflow_distribution("multi_worker_mirrored", runtime)
    assert "data_parallel" in str(error.value)
    assert "JAX" in str(error.value)


@pytest.mark.skipif(BACKEND != "jax", reason="multi-process training runs on "
                    "the JAX backend; TensorFlow's refusal is tested above")
def test_two_jax_processes_on_localhost_train_together(tmp_path):
    """On JAX: two processes, gloo collectives, one data-parallel model."""
    hosts = f"127.0.0.1:{_free_port()},127.0.0.1:{_free_port()}"
    model_dir = tmp_path / "run"
    processes = [
        _train(model_dir,
               "runtime.distribution_strategy=data_parallel,"
               f"runtime.worker_hosts='{hosts}',runtime.task_index={i}",
               wait=False)
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    for i, (p, out) in enumerate(zip(processes, outputs)):
        assert p.returncode == 0, out[-3000:]
        assert f"process {i + 1} of 2" in out
    chief = _final_weights(model_dir)
    worker = _final_weights(model_dir / "workers" / "1")
    _assert_same(chief, worker, tolerance=0)
