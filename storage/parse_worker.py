"""A parser process of `swbot ingest` (storage.feed): `python -m storage.parse_worker`.

It reads batches of message bytes from stdin and writes back what `storage.prepare.prepare` makes
of each, in order, as pickles framed by an 8-byte big-endian length: a request is
`(max_bytes, [data, …])`, an answer `[Parsed | Refused, …]`. It writes one byte first, once it is
ready. It imports only the parser (no SQLAlchemy, no models), so it is up in well under a tenth of
a second. It ends when stdin ends: when the ingesting process closes it, or when that process is
gone (a SIGKILL closes the pipe too), so it never outlives its parent.

The pipes carry only what the parent process itself sends; the pickles are the parent's own.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from typing import BinaryIO

from storage.collector import collect_rarely
from storage.prepare import prepare

READY = b"R"
HEADER = 8  # bytes of a frame's length


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    data = stream.read(n)
    if len(data) < n:
        return None  # stdin ended: the parent closed it or is gone
    return data


def main() -> None:
    # Ctrl-C reaches the whole process group: the parent decides when this ends (it closes stdin).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    collect_rarely()
    requests = sys.stdin.buffer
    # The answers get fd 1 of their own; anything printed goes to stderr, never into a frame.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    answers.write(READY)
    answers.flush()
    while (header := _read_exact(requests, HEADER)) is not None:
        body = _read_exact(requests, int.from_bytes(header, "big"))
        if body is None:
            return
        max_bytes, datas = pickle.loads(body)  # noqa: S301 - our own parent's pickle, through our own pipe
        answer = pickle.dumps([prepare(data, max_bytes) for data in datas], protocol=pickle.HIGHEST_PROTOCOL)
        try:
            answers.write(len(answer).to_bytes(HEADER, "big") + answer)
            answers.flush()
        except BrokenPipeError:
            return  # the parent is gone


if __name__ == "__main__":
    main()
