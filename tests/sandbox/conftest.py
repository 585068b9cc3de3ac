"""The Bot API stand-in and `swbot sandbox` (web chat, files, webhook delivery, the browser test).

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.sandbox.core import BotApiCore
from bot.sandbox.server import SandboxServer


@pytest.fixture
def core() -> Iterator[BotApiCore]:
    """A fresh stand-in (a module may override it with users or settings of its own)."""
    c = BotApiCore()
    yield c
    c.shutdown()


@pytest.fixture
def server(core: BotApiCore) -> Iterator[SandboxServer]:
    """The stand-in over HTTP on 127.0.0.1 (`server.base_url`)."""
    srv = SandboxServer(core)
    srv.start()
    yield srv
    srv.stop()
