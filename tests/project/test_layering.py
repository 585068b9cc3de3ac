"""DESIGN §1's import rules, checked on the source: every arrow goes one way.

- storage/ imports neither handlers/ nor python-telegram-bot, and of bot/ only the pure bot/domain/;
- bot/domain/ imports nothing of the project outside bot/domain/, and no telegram;
- views (bot/views/, bot/widgets.py, bot/callbacks.py, bot/commands.py) do no I/O: no storage/, no handlers/;
- handlers/ are imported only by handlers/ and by bot/app.py, which builds the application;
- bot/__init__.py is empty;
- no import cycles (lazy and TYPE_CHECKING imports count, and so does a package's __init__).
"""

from __future__ import annotations

import pytest

from tests.support.imports import ROOT, cycles, import_graph

GRAPH = import_graph()
VIEWS = ("bot.views", "bot.widgets", "bot.callbacks", "bot.commands")


def _under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _offenders(rule: str) -> list[str]:
    out = []
    for module, deps in sorted(GRAPH.items()):
        for dep in sorted(deps):
            if _breaks(rule, module, dep):
                out.append(f"{module} -> {dep}")
    return out


def _breaks(rule: str, module: str, dep: str) -> bool:
    if dep == "bot":  # the package file, which is empty (below): importing bot.domain.x runs it
        return False
    if rule == "storage":
        return _under(module, "storage") and (
            _under(dep, "handlers", "telegram") or (_under(dep, "bot") and not _under(dep, "bot.domain"))
        )
    if rule == "domain":
        return _under(module, "bot.domain") and (
            _under(dep, "storage", "handlers", "telegram") or (_under(dep, "bot") and not _under(dep, "bot.domain"))
        )
    if rule == "views":
        return _under(module, *VIEWS) and _under(dep, "storage", "handlers")
    if rule == "handlers":
        return _under(dep, "handlers") and not _under(module, "handlers") and module != "bot.app"
    raise AssertionError(rule)


@pytest.mark.parametrize("rule", ["storage", "domain", "views", "handlers"])
def test_import_rule(rule: str) -> None:
    assert _offenders(rule) == []


def test_no_import_cycles() -> None:
    assert cycles(GRAPH) == []


def test_bot_package_file_is_empty() -> None:
    assert (ROOT / "bot" / "__init__.py").read_text(encoding="utf-8").strip() == ""


def test_the_rules_see_a_violation() -> None:
    """The checks can fail: a storage module importing telegram, and a two-module cycle."""
    assert _breaks("storage", "storage.x", "telegram")
    assert _breaks("views", "bot.views.quota", "storage.queries")
    assert _breaks("handlers", "bot.notifier", "handlers.common")
    assert not _breaks("handlers", "bot.app", "handlers.registry")
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
