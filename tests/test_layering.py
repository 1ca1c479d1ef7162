"""The rules of DESIGN.md, enforced on the source: who may import whom, and
the short list of modules that may import TensorFlow or JAX.

Every `import` and `from ... import` statement counts, function-local ones
included; a test writes a deliberately bad module to show the checker
catches it.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

# Source analysis: no backend involved.
pytestmark = pytest.mark.one_backend

REPO = Path(__file__).resolve().parents[1]

#: package -> the first-party packages it must not import.
FORBIDDEN = {
    "zoo_ops": ("zoo", "training", "benchmarks"),
    "zoo": ("training", "benchmarks"),
    "training": ("benchmarks",),
    "benchmarks": ("training",),
}

#: The modules that may import TensorFlow: the ops' backend dispatch,
#: tf.data code, tokenizers' string ops, gfile downloads, TensorBoard
#: summaries, tf.distribute, exports, and the benchmarks' TensorFlow peers.
TENSORFLOW_ALLOWED = {
    "zoo_ops/_backend.py",
    "zoo/task.py",                    # tf.data in fit / predict
    "zoo/nlp/tokenizers.py",          # tensorflow-text string ops
    "zoo/presets/download.py",        # tf.io.gfile for gs:// and ram://
    "zoo/serving/checks.py",          # export: SavedModel, LiteRT, ONNX
    "zoo/serving/export.py",
    "zoo/serving/litert.py",
    "zoo/serving/signatures.py",
    "training/predict_cli.py",        # zoo predict decodes image files
    "training/data/augment.py",
    "training/data/coco.py",
    "training/data/detection.py",
    "training/data/image_classification.py",
    "training/data/readers.py",
    "training/data/segmentation.py",
    "training/data/shapes.py",        # writes the drawn sets' TFRecords
    "training/data/text.py",
    "training/data/tsv.py",
    "training/callbacks.py",          # TensorBoard summaries
    "training/distribution.py",       # tf.distribute strategies
    "training/trainer.py",            # op determinism
    "benchmarks/environment.py",
    "benchmarks/flops.py",
    "benchmarks/ops.py",
}
#: The modules that may import JAX.
JAX_ALLOWED = {
    "zoo_ops/_backend.py",
    "training/distribution.py",
    "benchmarks/environment.py",
    "benchmarks/flops.py",
    "benchmarks/ops.py",
}


def imported_modules(path):
    """Every module a file imports by absolute name (relative imports stay
    inside their own package, so no rule concerns them)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and (
                not node.level):
            names.add(node.module)
    return names


def violations(root):
    """`[(file, imported module, rule)]` for every broken rule under root."""
    found = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top in forbidden:
                    found.append((relative, module,
                                  f"{package} must not import {top}"))
                if top == "tensorflow" and relative not in TENSORFLOW_ALLOWED:
                    found.append((relative, module,
                                  "not in the TensorFlow allow-list"))
                if top in ("jax", "jaxlib") and relative not in JAX_ALLOWED:
                    found.append((relative, module,
                                  "not in the JAX allow-list"))
    return found


def test_the_tree_follows_the_layer_rules():
    assert violations(REPO) == []


def test_every_allowed_module_exists():
    for relative in TENSORFLOW_ALLOWED | JAX_ALLOWED:
        assert (REPO / relative).is_file(), relative


@pytest.mark.parametrize("package, body, rule", [
    ("zoo_ops", "import zoo\n", "zoo_ops must not import zoo"),
    ("zoo", "def f():\n    from training import trainer\n",
     "zoo must not import training"),
    ("zoo", "def f():\n    import tensorflow as tf\n",
     "not in the TensorFlow allow-list"),
    ("training", "from jax import numpy\n", "not in the JAX allow-list"),
])
def test_a_bad_import_is_caught(tmp_path, package, body, rule):
    for name in FORBIDDEN:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / package / "bad_module.py").write_text(body)
    found = violations(tmp_path)
    assert [(f, r) for f, _, r in found] == [
        (f"{package}/bad_module.py", rule)]


def test_import_zoo_is_lazy():
    """`import zoo` imports neither Keras nor the model, preset or NLP
    modules; they come when first used (`zoo.BertEncoder` is used, hence
    imported, all through the suite)."""
    code = ("import sys, zoo\n"
            "loaded = sorted(m for m in sys.modules if m.startswith("
            "('keras', 'tensorflow', 'jax', 'zoo.nlp', 'zoo.presets', "
            "'zoo.vision', 'zoo.convert')))\n"
            "print(loaded, 'BertEncoder' in dir(zoo))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] True"
