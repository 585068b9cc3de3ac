"""Running `swbot` commands in-process for the CLI tests, and their inputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot import cli
from tests.support.storage import (
    ListSpec,
    ceb621,
    ceb622,
    people,
    pre_no,
)

BUYER = people(1)[0]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def good_messages(n: int = 3) -> list[bytes]:
    out = []
    for i in range(n):
        key = f"cli{i}"
        out.append(ceb621(ListSpec(key, BUYER, app_time=dt.datetime(2025, 3, 1, 9, i))))
        out.append(ceb622(key, 800, dt.datetime(2025, 3, 2, 9, i), pre=pre_no(key)))
    return out


# -- accounts import -------------------------------------------------------------------------------
