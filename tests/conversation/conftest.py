"""The conversation: the real Application in-process against the Bot API stand-in, on demo data.

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""

from tests.support.conversation import demo_fixture, harness_fixture  # noqa: F401 (the `demo` and `h` fixtures)
