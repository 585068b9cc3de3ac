"""Notifications: a closed set. Each kind is one name (`NoticeKind`, its value stored in the
outbox), and the Settings switches say which kinds each covers. Adding a kind is a member here
(and a row in SWITCHES, or a place under an existing switch), its view, and what queues it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class NoticeKind(StrEnum):
    LIST_STATUS = "list_status"  # a list was released, or refused / shipped back
    VERIFY = "verify"  # customs suspended a list for 交易真实性验核: confirm within 15 days
    OVER_LIMIT = "over_limit"  # a list was refused: over the annual limit (1313)
    MISMATCH = "mismatch"  # a list was refused: name / ID or phone differs from the order
    TAX_NEW = "tax_new"  # a new tax slip arrived
    TAX_STATUS = "tax_status"  # a tax slip was summarised or voided
    QUOTA = "quota"  # the year's consumption crossed 80 % / 100 % of the limit
    QUOTA_BACK = "quota_back"  # a cancellation or return gave quota back
    SUSPICIOUS = "suspicious"  # a declaration under the user's identity looks like someone else's


def _(message: str) -> str:  # marks a msgid for extraction (the views translate it)
    return message


@dataclass(frozen=True)
class Switch:
    """An on/off switch in Settings: named by its main kind, covering `kinds`."""

    kind: NoticeKind
    label: str  # msgid
    wire: str  # one letter in callback data: stable, part of the button format
    kinds: tuple[NoticeKind, ...]


# In the order Settings shows them.
SWITCHES: Final = (
    Switch(NoticeKind.LIST_STATUS, _("Released or refused by customs"), "r", (NoticeKind.LIST_STATUS,)),
    Switch(NoticeKind.VERIFY, _("Confirm a purchase (验核)"), "v", (NoticeKind.VERIFY,)),
    Switch(NoticeKind.OVER_LIMIT, _("Refused: over the annual limit"), "l", (NoticeKind.OVER_LIMIT,)),
    Switch(NoticeKind.MISMATCH, _("Refused: buyer details differ"), "m", (NoticeKind.MISMATCH,)),
    Switch(NoticeKind.TAX_NEW, _("New tax slip"), "t", (NoticeKind.TAX_NEW,)),
    Switch(NoticeKind.TAX_STATUS, _("Tax slip status change"), "s", (NoticeKind.TAX_STATUS,)),
    Switch(NoticeKind.QUOTA, _("Quota: 80%, 100% and amounts back"), "q", (NoticeKind.QUOTA, NoticeKind.QUOTA_BACK)),
    Switch(NoticeKind.SUSPICIOUS, _("Suspicious declaration"), "x", (NoticeKind.SUSPICIOUS,)),
)
SWITCH_KINDS: Final = tuple(s.kind for s in SWITCHES)
BY_SWITCH: Final = {s.kind: s for s in SWITCHES}
SWITCH_OF: Final = {kind: s for s in SWITCHES for kind in s.kinds}  # every kind → the switch that covers it

assert set(SWITCH_OF) == set(NoticeKind), "a notice kind no switch covers"
