"""Every ```python block in docs/ runs (blocks starting with
`# requires network` are shown, not run: tests never download)."""

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _blocks():
    for page in sorted(DOCS.glob("*.md")):
        for index, match in enumerate(BLOCK.finditer(page.read_text())):
            code = match.group(1)
            if code.startswith("# requires network"):
                continue
            yield pytest.param(code, id=f"{page.stem}-{index}")


@pytest.mark.parametrize("code", list(_blocks()))
def test_doc_example_runs(code):
    exec(compile(code, "<docs>", "exec"), {"__name__": "__docs__"})
