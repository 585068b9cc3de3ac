"""The code base itself: import rules and module sizes.

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""
