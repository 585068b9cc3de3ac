"""The garbage collector's pace while a feed is ingested (storage.collector)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from storage import collector


@pytest.fixture
def gc_state() -> Iterator[None]:
    """Each test starts with the default pace and nothing frozen, and leaves the process so."""
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_during_a_feed_young_collections_are_rare_and_what_was_there_is_frozen(gc_state: None) -> None:
    with collector.rarely_while():
        assert gc.get_threshold() == (collector.YOUNG, 10, 10)
        assert gc.get_freeze_count() > 1000  # this process's modules, at least
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_the_pace_comes_back_when_the_feed_fails(gc_state: None) -> None:
    with pytest.raises(RuntimeError), collector.rarely_while():
        raise RuntimeError("the feed stopped")
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_before_the_feed_stays_frozen(gc_state: None) -> None:
    """The bot freezes its heap once it is warm (bot.app.freeze_heap): a feed does not thaw it."""
    gc.freeze()
    frozen = gc.get_freeze_count()
    with collector.rarely_while():
        pass
    assert gc.get_freeze_count() >= frozen
    assert gc.get_threshold() == (700, 10, 10)


def test_a_process_that_only_ingests_keeps_the_rare_pace(gc_state: None) -> None:
    collector.collect_rarely()
    assert gc.get_threshold() == (collector.YOUNG, 10, 10)
    assert gc.get_freeze_count() > 0
