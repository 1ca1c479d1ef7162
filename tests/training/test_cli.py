"""The `zoo` command line, run as a real subprocess."""

import os
import subprocess
import sys


def _zoo(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "training.cli", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_models_and_presets_listing():
    models = _zoo("models", "resnet5*")
    assert models.returncode == 0, models.stderr
    assert models.stdout.split()[0::1][0] == "resnet50"
    presets = _zoo("presets", "resnet50*")
    assert presets.returncode == 0, presets.stderr
    lines = presets.stdout.splitlines()
    assert lines[0].startswith("name")
    assert any(line.startswith("resnet50 ") and "25.56M" in line
               for line in lines)


def test_unknown_subcommand_fails_with_usage():
    result = _zoo("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
