"""The operator HTTP API.

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""
