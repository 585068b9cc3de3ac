"""Notifications: the outbox drained to the stand-in, pacing, the send ceiling and the limiter.

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""

from collections.abc import Iterator

import pytest

from bot.sandbox.core import BotApiCore
from bot.sandbox.server import SandboxServer


@pytest.fixture
def server() -> Iterator[tuple[BotApiCore, str]]:
    """The stand-in on a real HTTP port: (its core, its base URL)."""
    core = BotApiCore()
    srv = SandboxServer(core)
    base_url = srv.start()
    try:
        yield core, base_url
    finally:
        srv.stop()
