"""Where the tests' files are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
TESTS = ROOT / "tests"
SAMPLES = TESTS / "ceb_samples"  # CEB messages as senders write them
ARTIFACTS = TESTS / "artifacts"  # screenshots and files the browser test leaves for a person to look at
