"""Notifications: the outbox drained to the stand-in, pacing, the send ceiling and the limiter.

Fixtures shared by the whole suite are in tests/conftest.py; helpers in tests/support/."""
