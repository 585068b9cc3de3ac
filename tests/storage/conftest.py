"""Storage: the database, migrations, the vault, CEB parsing and ingest, the outbox.

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""
