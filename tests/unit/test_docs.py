"""The documentation names only tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.name)
def test_every_test_a_page_names_exists(page: Path) -> None:
    references = _REFERENCE.findall(page.read_text())
    assert references, f"{page.name} names no test"
    for path, name in references:
        source = ROOT / path
        assert source.is_file(), f"{page.name}: {path} does not exist"
        if name:
            assert re.search(rf"^\s*(async )?def {name}\(", source.read_text(), re.MULTILINE), (
                f"{page.name}: {path} has no test {name}"
            )
