"""One clock: time is an input (DESIGN §1). The clock itself, the one place that reads the wall
clock, and the commands that pin a day (`demo-data --today`, `sandbox --today`)."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bot import cli
from bot.domain.clock import Clock, FrozenClock, parse_instant
from bot.sandbox.run import prepare_demo
from tests.support import paths

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)


ROOT = paths.ROOT
WALL_CLOCK = re.compile(r"\b(?:now_cn|today_cn)\(|\bdate\.today\(|\bdatetime\.now\(|\btime\.time\(|\butcnow\(")


def test_as_of_starts_at_the_instant_and_runs_on() -> None:
    at = datetime(2027, 1, 1, 0, 30)
    clock = Clock.as_of(at)
    first = clock.now()
    assert timedelta(0) <= first - at < timedelta(seconds=5)
    assert clock.today() == date(2027, 1, 1)
    assert clock.now() >= first
    # Its Unix time is China time minus 8 hours: still the old year in UTC.
    utc = datetime(1970, 1, 1) + timedelta(seconds=clock.timestamp())
    assert utc.year == 2026 and utc.month == 12 and utc.day == 31 and utc.hour == 16


def test_on_day_keeps_the_real_time_of_day() -> None:
    real = Clock.system().now()
    shifted = Clock.on_day(date(2028, 2, 29)).now()
    assert abs(shifted - datetime.combine(date(2028, 2, 29), real.time())) < timedelta(seconds=5)


def test_frozen_clock_stands_still_and_advances_when_told() -> None:
    clock = FrozenClock(datetime(2026, 12, 31, 23, 30))
    assert clock.now() == clock.now() == datetime(2026, 12, 31, 23, 30)
    clock.advance(timedelta(hours=1))
    assert clock.today() == date(2027, 1, 1)
    assert clock.timestamp() == datetime(2026, 12, 31, 16, 30).timestamp() - _local_offset(datetime(2026, 12, 31))


def _local_offset(day: datetime) -> float:
    # datetime.timestamp() of a naive value assumes the machine's zone; undo that for a UTC reading.
    return -(day.astimezone().utcoffset() or timedelta(0)).total_seconds()


def test_advance_shifts_a_running_clock() -> None:
    clock = Clock.as_of(datetime(2026, 1, 1))
    clock.advance(timedelta(days=2))
    assert clock.today() == date(2026, 1, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2028-02-29", datetime(2028, 2, 29)),
        ("2026-12-31T23:30", datetime(2026, 12, 31, 23, 30)),
        ("2026-12-31T16:30:00+00:00", datetime(2027, 1, 1, 0, 30)),  # an aware instant, in China time
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


def test_only_the_clock_reads_the_wall_clock() -> None:
    """A grep over the application: `bot/domain/clock.py` is the one place."""
    offenders = []
    for folder in ("bot", "handlers", "storage"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "bot" / "domain" / "clock.py":
                continue
            for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if WALL_CLOCK.search(text):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {text.strip()}")
    assert offenders == []
    assert WALL_CLOCK.search((ROOT / "bot" / "domain" / "clock.py").read_text(encoding="utf-8"))


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_demo_data_today_is_byte_identical_for_a_seed_and_day(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def make(name: str, day: str) -> dict[str, str]:
        out = tmp_path / name
        assert cli.main(["demo-data", "--out", str(out), "--consumers", "3", "--seed", "4", "--today", day]) == 0
        return _digest(out)

    first, again = make("a", "2028-02-29"), make("b", "2028-02-29")
    assert first == again and len(first) > 3
    assert make("c", "2027-01-01") != first
    capsys.readouterr()


def test_demo_data_is_as_of_the_given_day(tmp_path: Path) -> None:
    # The sandbox's `--today`: the demo it prepares ends on that day, whatever the real date.
    day = date(2027, 1, 1)
    people, ceb_dir = prepare_demo(tmp_path / "demo", 3, cli.make_clock(day))
    assert people
    stamps = [
        m.group(1)
        for path in ceb_dir.rglob("*.xml")
        for m in re.finditer(r"<(?:\w+:)?appTime>(\d{8})", path.read_text(encoding="utf-8"))
    ]
    assert stamps and "20261201" <= max(stamps) <= "20270101"  # up to the day, and recent


def test_bad_today_is_a_one_line_usage_error(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["sandbox", "--today", "2027-02-30"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--today" in err[0] and "2027-02-30" in err[0]


def test_make_clock_pins_the_day_or_is_the_real_clock() -> None:
    assert cli.make_clock(date(2026, 2, 28)).today() == date(2026, 2, 28)
    assert abs((cli.make_clock(None).now() - Clock.system().now()).total_seconds()) < 5
