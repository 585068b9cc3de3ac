"""Telegram file_ids of files already uploaded, by content: the same chart is never drawn or
uploaded twice. Per process and bounded (a restart costs one render per chart); a lock per key
makes two taps on the same chart render it once."""

from __future__ import annotations

import asyncio
from collections import OrderedDict


class FileIdCache:
    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._ids: OrderedDict[str, str] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self.hits = 0
        self.renders = 0

    def get(self, key: str) -> str | None:
        file_id = self._ids.get(key)
        if file_id is not None:
            self._ids.move_to_end(key)
            self.hits += 1
        return file_id

    def put(self, key: str, file_id: str) -> None:
        self._ids[key] = file_id
        self._ids.move_to_end(key)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def forget(self, key: str) -> None:
        self._ids.pop(key, None)

    def lock(self, key: str) -> asyncio.Lock:
        """Hold it while rendering and uploading `key`; dropped again when nobody waits."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def release(self, key: str) -> None:
        lock = self._locks.get(key)
        if lock is not None and not lock.locked():
            del self._locks[key]
