"""Every ```python block of docs/*.md and README.md runs, and says what it
prints.

- A line `print(x)  # -> text` must print exactly `text` (whitespace
  runs compared as one space); prose comments are prose.
- A `try` block must have an `else:` that fails, so an example whose
  error never comes does not pass.
- Blocks starting with `# requires network` are not run (tests never
  download), nor those starting with `# sketch` (the outline of a file, in
  docs/adding_a_model.md); each is reported as a skip.
"""

import ast
import contextlib
import io
import pathlib
import re

import pytest

# The docs' examples are backend-independent code; they run once.
pytestmark = pytest.mark.one_backend

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
EXPECTED = re.compile(r"^(?P<code>\s*print\(.*\))\s*#\s*->\s*(?P<out>.*)$")


def _blocks():
    for page in PAGES:
        for index, match in enumerate(BLOCK.finditer(page.read_text())):
            yield pytest.param(match.group(1),
                               id=f"{page.stem}-{index}")


def _instrument(code):
    """The block with every `print(...)  # -> expected` line recorded."""
    lines, expectations = [], []
    for line in code.splitlines():
        match = EXPECTED.match(line)
        if match:
            indent = match.group("code")[:len(match.group("code"))
                                          - len(match.group("code").lstrip())]
            number = len(expectations)
            expectations.append(match.group("out").strip())
            lines.append(f"{indent}__mark__({number})")
            lines.append(match.group("code"))
            lines.append(f"{indent}__mark__(None)")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n", expectations


def _normalise(text):
    return " ".join(text.split())


def test_every_fenced_block_that_holds_code_is_a_python_block():
    """A bare ``` block with Python in it would be shown but never run."""
    bare = re.compile(r"```\n(.*?)```", re.S)
    for page in PAGES:
        for match in bare.finditer(page.read_text()):
            body = match.group(1)
            assert not re.search(r"^(import |from \w+ import |\w+ = zoo\.)",
                                 body, re.M), (page.name, body[:80])


@pytest.mark.parametrize("code", list(_blocks()))
def test_doc_example_runs_and_prints_what_it_says(code):
    if code.startswith("# requires network"):
        pytest.skip("downloads (a `# requires network` block)")
    if code.startswith("# sketch"):
        pytest.skip("the outline of a file (a `# sketch` block)")
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and node.handlers:
            assert node.orelse, (
                "a try block needs `else: raise AssertionError(...)`, or it "
                "passes when the error never comes")
    instrumented, expectations = _instrument(code)
    printed = {}
    buffer = io.StringIO()
    current = []

    def mark(number):
        if number is None:
            printed[current.pop()] = buffer.getvalue()
        else:
            buffer.seek(0)
            buffer.truncate()
            current.append(number)

    namespace = {"__name__": "__docs__", "__mark__": mark}
    with contextlib.redirect_stdout(buffer):
        exec(compile(instrumented, "<docs>", "exec"), namespace)
    for number, expected in enumerate(expectations):
        assert _normalise(printed[number]) == _normalise(expected), (
            f"printed {printed[number]!r}, the page says {expected!r}")
