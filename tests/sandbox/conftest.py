"""The Bot API stand-in and `swbot sandbox` (web chat, files, webhook delivery, the browser test).

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""
