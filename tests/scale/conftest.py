"""Running for real: webhook mode, several instances behind nginx, faults, outages, soak.

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""
