"""The command line and the demo data.

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""
