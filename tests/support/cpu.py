"""CPU time of a piece of work, for the few tests that bound one (speed targets live in bench/).

Wall time fails on a loaded CI machine, and the process's CPU time counts threads earlier tests
left behind; so this is the calling thread's CPU time, with the cyclic garbage collector held off
meanwhile (a full collection of a long test session's heap is not the code under test)."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Cpu:
    seconds: float = 0.0


@contextmanager
def cpu_time() -> Iterator[Cpu]:
    """`with cpu_time() as cpu: …` then `cpu.seconds`: this thread's CPU time inside the block."""
    cpu = Cpu()
    enabled = gc.isenabled()
    gc.disable()
    start = time.thread_time()
    try:
        yield cpu
    finally:
        cpu.seconds = time.thread_time() - start
        if enabled:
            gc.enable()
