"""The garbage collector's pace during a feed's ingest (`swbot ingest`, its parser and worker
processes).

Ingest allocates a few dozen objects a message (parsed fields, rows, parameter lists) and frees
nearly all of them by reference counting: they make no cycles. With the collector's default pace
(a young collection every 700 net allocations, an older one every ten of those) a process that
holds a batch or two of parsed messages, beside SQLAlchemy's and the models' long-lived objects,
spends much of its time in collections that find almost nothing (bench/README.md): unpickling a
parser process's batch took 16.7 µs a message instead of 6.4, parsing 124 instead of 99, and the
writer 15–20 % more. So while a feed runs, what was there before it is taken out of the
collector's sight (`gc.freeze`), and young collections come every `YOUNG` allocations: cyclic
garbage still goes, a little later (a few megabytes at most).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 50_000  # net allocations between young collections (the default is 700)


def collect_rarely() -> None:
    """For a process that only ingests (a parser process): from now on, for good."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG, older, oldest)


@contextmanager
def rarely_while() -> Iterator[None]:
    """`collect_rarely` for the block, then back as it was. What it froze is thawed again, unless
    something was frozen before (the bot's heap, `bot.app.freeze_heap`): that stays as it was."""
    before = gc.get_threshold()
    thaw = gc.get_freeze_count() == 0
    collect_rarely()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if thaw:
            gc.unfreeze()
