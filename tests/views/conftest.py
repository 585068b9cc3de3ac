"""Pure screens: (state, data, locale) → (text, keyboard), widgets and the catalogs.

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""
