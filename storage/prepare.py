"""Parsing and checking one CEB message before any database work (`prepare`): pure CPU work, in
the ingesting process or in a parser process (storage.parse_worker). Kept apart from storage.ingest
so that a parser process imports only this and the parser (storage.ceb), not SQLAlchemy and the
models: it starts in a few hundredths of a second instead of about half a second."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from storage.ceb import CebMessage, CebRejected, Inventory, ListRequest, TaxSlip, parse_message

# Dec5 stores amounts as int64 counts of 1e-5; anything larger is not a real CBEC amount.
_MAX_AMOUNT = Decimal(10) ** 13


class ApplyRejected(Exception):
    """The message parsed but contradicts itself or the data model (reason holds no PII)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Parsed:
    """A message that parsed and passed the range checks: ready to apply."""

    message: CebMessage
    digest: bytes  # SHA-256 of its bytes: a byte-identical copy is a duplicate

    def __reduce__(self) -> tuple[type[Parsed], tuple[CebMessage, bytes]]:
        # Pickled as the class and its fields (a parser process hands these over by the hundred):
        # the state protocol of a slotted dataclass looks its fields up again for every object.
        return Parsed, (self.message, self.digest)


@dataclass(frozen=True, slots=True)
class Refused:
    """A message that did not parse, or failed a check before any database work."""

    reason: str

    def __reduce__(self) -> tuple[type[Refused], tuple[str]]:
        return Refused, (self.reason,)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message to commit: its bytes (quarantined if it is refused), a name for the reports, and
    what `prepare` made of it."""

    data: bytes
    name: str
    prepared: Parsed | Refused


def prepare(data: bytes, max_bytes: int) -> Parsed | Refused:
    """Parse and check one message: pure CPU work, no database (so it may run in a worker process)."""
    try:
        message = parse_message(data, max_bytes=max_bytes)
        _check_ranges(message)
    except (CebRejected, ApplyRejected) as exc:
        return Refused(exc.reason)
    return Parsed(message, hashlib.sha256(data).digest())


def _check_ranges(message: CebMessage) -> None:
    def amounts(values: Iterable[Decimal | None]) -> None:
        for v in values:
            if v is not None and v >= _MAX_AMOUNT:
                raise ApplyRejected(f"{message.msg_type}: amount out of range")

    for item in message.items:
        if isinstance(item, Inventory):
            if item.ie_flag != "I":
                raise ApplyRejected("CEB621: only import lists (ieFlag I) are accepted")
            amounts([item.freight, item.insured_fee])
            for line in item.lines:
                amounts([line.qty, line.price, line.total_price])
            # The stored sums must fit too (goods value, dutiable value), not only each line.
            goods = sum((line.total_price for line in item.lines), Decimal(0))
            amounts([goods, goods + item.freight + item.insured_fee])
        elif isinstance(item, TaxSlip):
            amounts([item.customs_tax, item.value_added_tax, item.consumption_tax])
            for tl in item.lines:
                amounts([tl.tax_price, tl.customs_tax, tl.value_added_tax, tl.consumption_tax])
        elif isinstance(item, ListRequest):
            amounts([line.qty for line in item.lines])
