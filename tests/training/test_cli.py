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
    lines = models.stdout.splitlines()
    assert lines[0].split() == ["name", "family", "task", "description"]
    assert lines[1].split()[:3] == ["resnet50", "resnet", "image_classifier"]
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


def test_listing_commands_import_no_backend_and_print_no_logs():
    """`zoo --help`, `zoo models` and `zoo presets` answer without importing
    Keras, TensorFlow or JAX, and print nothing above their output."""
    code = (
        "import sys\n"
        "from training.cli import main\n"
        "for argv in (['models'], ['presets'], ['train', '--help'],"
        " ['--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in ('keras', 'tensorflow', 'jax')"
        " if m in sys.modules)\n"
        "print('HEAVY', heavy)\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "HEAVY []", result.stdout
    models = _zoo("models")
    assert models.stdout.splitlines()[0].split()[0] == "name", models.stdout
    assert models.stderr == ""


def test_train_prints_no_backend_logs_unless_verbose(tmp_path):
    """Every command sets the C++ log level before the first import and
    filters the start-up banner; --verbose brings the logs back."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    args = [sys.executable, "-m", "training.cli", "train", "--experiment",
            "resnet_digits", "--mode", "train", "--params_override",
            "trainer.train_steps=2,trainer.steps_per_loop=2,"
            "trainer.checkpoint_interval=2,trainer.validation_interval=100",
            "--model_dir"]
    quiet = subprocess.run(args + [str(tmp_path / "quiet")],
                           capture_output=True, text=True, env=env,
                           timeout=600)
    assert quiet.returncode == 0, quiet.stderr
    noise = ("absl::InitializeLog", "cudart_stub", "cpu_feature_guard",
             "cuInit", "oneDNN custom operations", "Using MirroredStrategy")
    for line in (quiet.stderr + quiet.stdout).splitlines():
        assert not any(n in line for n in noise), line
    assert "step 2/2" in quiet.stderr
    loud = subprocess.run(args + [str(tmp_path / "loud"), "--verbose"],
                          capture_output=True, text=True, env=env,
                          timeout=600)
    assert loud.returncode == 0, loud.stderr
    assert loud.stderr.count("\n") > quiet.stderr.count("\n")
