"""Pure domain rules: limits, formulas, codes, ID numbers, languages, receipts, the clock, the callback codec.

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""
