"""No module over 400 lines without a comment at its top saying why (issue 12)."""

from __future__ import annotations

from tests.support.imports import project_modules

LIMIT = 400


def test_long_modules_say_why() -> None:
    unexplained = []
    for name, path in project_modules().items():
        text = path.read_text(encoding="utf-8")
        head = text[: text.find('"""', 3) + 3] if text.startswith('"""') else ""
        if text.count("\n") > LIMIT and f"Over {LIMIT} lines" not in head:
            unexplained.append(f"{name} ({text.count(chr(10))} lines)")
    assert unexplained == []
