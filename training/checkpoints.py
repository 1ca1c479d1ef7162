"""Training checkpoints: model, optimizer and step, written atomically.

A checkpoint is one `.npz` file, `model_dir/checkpoints/ckpt-<step>.npz`,
holding every model variable (random-generator states included), every
optimizer variable and a JSON record of the step and the paths. It is
written to a temporary name and renamed into place, so a crash (or SIGKILL)
never leaves a partial file under a checkpoint name. The newest `max_to_keep`
are kept. When the newest cannot be read, loading falls back to the one
before it, with a warning.
"""

import glob
import json
import logging
import os
import re
import tempfile
import zipfile

import numpy as np

from zoo.errors import WeightsError

logger = logging.getLogger("zoo")

CHECKPOINT_SUBDIR = "checkpoints"
_NAME = re.compile(r"ckpt-(\d+)\.npz$")


def checkpoint_dir(model_dir):
    """`model_dir/checkpoints`."""
    return os.path.join(model_dir, CHECKPOINT_SUBDIR)


def list_checkpoints(directory):
    """Checkpoint files in `directory` (or its `checkpoints/`), oldest first.

    Returns:
        list of (step, path).
    """
    if os.path.isdir(os.path.join(directory, CHECKPOINT_SUBDIR)):
        directory = os.path.join(directory, CHECKPOINT_SUBDIR)
    found = []
    for path in glob.glob(os.path.join(directory, "ckpt-*.npz")):
        match = _NAME.search(path)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def _model_variables(model):
    return list(model.variables)


def save_checkpoint(model, optimizer, step, model_dir, max_to_keep=5,
                    extra=None):
    """Writes `ckpt-<step>.npz` atomically and prunes old checkpoints.

    Args:
        model: the Keras model.
        optimizer: its optimizer (built), or None.
        step: int, the training step reached.
        model_dir: the run directory.
        max_to_keep: how many checkpoints to keep.
        extra: JSON-serialisable dict stored with the checkpoint.

    Returns:
        the checkpoint path.
    """
    directory = checkpoint_dir(model_dir)
    os.makedirs(directory, exist_ok=True)
    arrays = {}
    model_vars = _model_variables(model)
    for i, v in enumerate(model_vars):
        arrays[f"model/{i:05d}"] = np.asarray(v)
    opt_vars = list(optimizer.variables) if optimizer is not None else []
    for i, v in enumerate(opt_vars):
        arrays[f"optimizer/{i:05d}"] = np.asarray(v)
    meta = {
        "step": int(step),
        "model_paths": [v.path for v in model_vars],
        "optimizer_paths": [v.path for v in opt_vars],
        "extra": extra or {},
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = os.path.join(directory, f"ckpt-{int(step):08d}.npz")
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".npz.tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    for _, old in list_checkpoints(directory)[:-max_to_keep]:
        os.remove(old)
    return path


def read_checkpoint(path):
    """Reads a checkpoint file: (model arrays, optimizer arrays, meta).

    Raises:
        WeightsError: the file is truncated or not a checkpoint.
    """
    try:
        with np.load(path) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            model = [data[f"model/{i:05d}"]
                     for i in range(len(meta["model_paths"]))]
            optimizer = [data[f"optimizer/{i:05d}"]
                         for i in range(len(meta["optimizer_paths"]))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
            json.JSONDecodeError) as e:
        raise WeightsError(f"Checkpoint {path} is unreadable: {e}") from None
    return model, optimizer, meta


def restore_checkpoint(model, optimizer, path):
    """Loads a checkpoint file into `model` and `optimizer`; returns its meta.

    Raises:
        WeightsError: unreadable, or written by a different model.
    """
    model_arrays, opt_arrays, meta = read_checkpoint(path)
    model_vars = _model_variables(model)
    if len(model_vars) != len(model_arrays):
        raise WeightsError(
            f"Checkpoint {path} has {len(model_arrays)} model variables, the "
            f"model {len(model_vars)}: it was written by another model."
        )
    for variable, array, saved in zip(model_vars, model_arrays,
                                      meta["model_paths"]):
        if tuple(variable.shape) != array.shape:
            raise WeightsError(
                f"Checkpoint {path}: {saved} has shape {array.shape}, the "
                f"model's {variable.path} {tuple(variable.shape)}."
            )
        variable.assign(array)
    if optimizer is not None and opt_arrays:
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        opt_vars = list(optimizer.variables)
        if len(opt_vars) != len(opt_arrays):
            raise WeightsError(
                f"Checkpoint {path} has {len(opt_arrays)} optimizer "
                f"variables, the optimizer {len(opt_vars)}."
            )
        for variable, array in zip(opt_vars, opt_arrays):
            variable.assign(array)
    return meta


def restore_latest(model, optimizer, model_dir):
    """Restores the newest readable checkpoint; returns its meta or None.

    An unreadable newest checkpoint is logged and skipped for the one
    before it.
    """
    for step, path in reversed(list_checkpoints(model_dir)):
        try:
            meta = restore_checkpoint(model, optimizer, path)
        except WeightsError as e:
            logger.warning("%s Falling back to the previous checkpoint.", e)
            continue
        logger.info("Restored %s (step %d).", path, step)
        return meta
    return None


def load_checkpoint_state(path):
    """`{variable path: array}` of a checkpoint file or directory's newest.

    Used to initialise a model from another run (`init_checkpoint`).
    """
    if os.path.isdir(path):
        found = list_checkpoints(path)
        if not found:
            raise WeightsError(f"No checkpoint in {path}.")
        path = found[-1][1]
    model_arrays, _, meta = read_checkpoint(path)
    state = {p: a for p, a in zip(meta["model_paths"], model_arrays)
             if "seed_generator" not in p}
    return state, meta
