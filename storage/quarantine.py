"""Quarantine for rejected messages.

A rejected file may hold personal data, so its bytes are stored encrypted (like the database
fields); the reason sits beside it in plain text and holds no personal data.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.domain.clock import CN_TZ, Clock
from storage.vault import Vault

_PURPOSE = "quarantine"
SUFFIX = ".bin"


@dataclass(frozen=True)
class QuarantineEntry:
    name: str
    reason: str
    source: str
    at: datetime
    size: int


class Quarantine:
    def __init__(self, folder: Path, vault: Vault, clock: Clock) -> None:
        self.folder = folder
        self.vault = vault
        self.clock = clock

    def put(self, data: bytes, reason: str, source: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        at = self.clock.now()
        digest = hashlib.sha256(data).hexdigest()[:16]
        stem = f"{at:%Y%m%dT%H%M%S}-{digest}"
        blob = self.folder / (stem + SUFFIX)
        # The source name is a path the operator gave; keep only its file name, and nothing in it
        # (a newline, a tab) that could add a line to this file or a column to `quarantine list`.
        source_name = "".join(c if c.isprintable() else "?" for c in Path(source).name)
        meta = f"reason: {reason}\nsource: {source_name}\nat: {at:%Y-%m-%d %H:%M:%S}\nsize: {len(data)}\n"
        # The reason first: an entry (its .bin) never shows without its reason.
        _write_private(self.folder / (stem + ".reason"), meta.encode())
        _write_private(blob, self.vault.encrypt_bytes(data, _PURPOSE))
        return blob

    def entries(self) -> list[QuarantineEntry]:
        if not self.folder.is_dir():
            return []
        out = []
        for blob in sorted(self.folder.glob("*" + SUFFIX)):
            meta = _read_meta(blob.with_suffix(".reason"))
            out.append(
                QuarantineEntry(
                    name=blob.name,
                    reason=meta.get("reason", "?"),
                    source=meta.get("source", "?"),
                    at=datetime.strptime(meta["at"], "%Y-%m-%d %H:%M:%S") if "at" in meta else _mtime(blob),
                    size=int(meta.get("size", "0")),
                )
            )
        return out

    def read(self, name: str) -> bytes:
        """Decrypt one entry; `name` is an entry name as listed (no paths accepted)."""
        if Path(name).name != name or not name.endswith(SUFFIX):
            raise FileNotFoundError(name)
        return self.vault.decrypt_bytes((self.folder / name).read_bytes(), _PURPOSE)


def _mtime(path: Path) -> datetime:
    """When the file was written, China time (a reason file that lost its `at` line)."""
    return datetime.fromtimestamp(path.stat().st_mtime, CN_TZ).replace(tzinfo=None)


def _write_private(path: Path, data: bytes) -> None:
    """Written whole or not at all (a process killed while writing leaves no torn file): to a
    temporary name, then renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _read_meta(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    return dict(line.split(": ", 1) for line in lines if ": " in line)
