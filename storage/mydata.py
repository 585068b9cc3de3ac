"""A copy of my data (PIPL Art. 45): everything held about a bound person, and the once-a-day rule.

`collect_sync` gathers, for one Telegram user, the Telegram side (ids, language, settings), the
binding, the identity it links to (decrypted: the file goes only to that person), the customs
records of that identity (lists with their lines and receipts, tax slips with their lines and
status events), the notifications queued or sent, the binding failures and the earlier requests.
The result is plain JSON data: times ISO 8601 (China time, as stored), amounts decimal strings.
Nothing else is read, and nothing of anyone else: every record is selected by this person's
identity key or Telegram user id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.domain import cbec
from storage.db import Database
from storage.models import (
    BindFailure,
    Binding,
    DataRequest,
    Inventory,
    Outbox,
    Receipt,
    TaxSlip,
    TaxStatusEvent,
    TgUser,
)
from storage.outbox import KIND_SETTING
from storage.vault import Vault

COPY = "copy"
FORMAT = "swbot-data-copy/1"


# ---------------------------------------------------------------- once a day


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


async def claim_copy(db: Database, tg_id: int, now: datetime) -> datetime | None:
    """Record today's request in its own short transaction. None when it is claimed; else the time
    of today's earlier request (one a day, calendar day in China time)."""
    async with db.write() as session:
        earlier = (
            await session.execute(
                select(func.max(DataRequest.requested_at)).where(
                    DataRequest.telegram_user_id == tg_id,
                    DataRequest.kind == COPY,
                    DataRequest.requested_at >= day_start(now),
                    DataRequest.requested_at < day_start(now) + timedelta(days=1),
                )
            )
        ).scalar_one_or_none()
        if earlier is not None:
            return earlier
        session.add(DataRequest(telegram_user_id=tg_id, kind=COPY, requested_at=now))
    return None


async def release_copy(db: Database, tg_id: int, at: datetime) -> None:
    """Undo a claim whose copy could not be sent, so the person can try again today."""
    async with db.write() as session:
        await session.execute(
            delete(DataRequest).where(
                DataRequest.telegram_user_id == tg_id, DataRequest.kind == COPY, DataRequest.requested_at == at
            )
        )


# ---------------------------------------------------------------- the copy


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def _d(value: Decimal | None) -> str | None:
    """Exact decimal string: to the fen when that is exact (`12.50`), else every stored digit."""
    if value is None:
        return None
    fen = value.quantize(cbec.FEN)
    return str(fen) if fen == value else format(value.normalize(), "f")


def _list(inv: Inventory, receipts: list[Receipt]) -> dict[str, Any]:
    return {
        "pre_no": inv.pre_no,
        "invt_no": inv.invt_no,
        "order_no": inv.order_no,
        "cop_no": inv.cop_no,
        "app_type": inv.app_type,
        "stored_at": _t(inv.app_time),
        "declared_on": inv.decl_date.isoformat(),
        "quota_year": inv.decl_year,
        "platform": {"code": inv.ebp_code, "name": inv.ebp_name},
        "company": {"code": inv.ebc_code, "name": inv.ebc_name},
        "logistics": {"code": inv.logistics_code, "name": inv.logistics_name, "waybill_no": inv.logistics_no},
        "customs_code": inv.customs_code,
        "port_code": inv.port_code,
        "trade_mode": inv.trade_mode,
        "country": inv.country,
        "currency": inv.currency,
        "freight": _d(inv.freight),
        "insured_fee": _d(inv.insured_fee),
        "goods_value": _d(inv.goods_value),
        "dutiable_value": _d(inv.total_value),
        "buyer_phone_shown_as": inv.buyer_phone_masked,
        "status": inv.status,
        "status_time": _t(inv.status_time),
        "status_info": inv.status_info,
        "status_group": inv.status_group,
        "counts_toward_quota": inv.counted,
        "cancelled": inv.cancelled,
        "you_said_not_me_at": _t(inv.disputed_at),
        "you_said_it_was_you_at": _t(inv.confirmed_at),
        "lines": [
            {
                "gnum": ln.gnum, "item_no": ln.item_no, "hs_code": ln.gcode, "name": ln.gname, "country": ln.country,
                "currency": ln.currency, "quantity": _d(ln.qty), "unit": ln.unit, "unit_price": _d(ln.price),
                "total_price": _d(ln.total_price),
            }
            for ln in inv.lines
        ],
        "receipts": [
            {"status": r.return_status, "time": _t(r.return_time), "info": r.return_info}
            for r in sorted(receipts, key=lambda r: (r.return_time, r.id))
        ],
    }


def _slip(slip: TaxSlip, events: list[TaxStatusEvent]) -> dict[str, Any]:
    return {
        "tax_no": slip.tax_no,
        "invt_no": slip.invt_no,
        "order_no": slip.order_no,
        "logistics_no": slip.logistics_no,
        "customs_code": slip.customs_code,
        "company_code": slip.ebc_code,
        "stored_at": _t(slip.return_time),
        "status": slip.status,
        "status_time": _t(slip.status_time),
        "payment_note_no": slip.ent_duty_no,
        "note": slip.note,
        "customs_duty": _d(slip.customs_tax),
        "consumption_tax": _d(slip.consumption_tax),
        "vat": _d(slip.value_added_tax),
        "total_tax": _d(slip.total_tax),
        "lines": [
            {
                "gnum": ln.gnum, "hs_code": ln.gcode, "dutiable_value": _d(ln.tax_price),
                "customs_duty": _d(ln.customs_tax), "consumption_tax": _d(ln.consumption_tax),
                "vat": _d(ln.value_added_tax),
            }
            for ln in slip.lines
        ],
        "status_events": [
            {"status": e.status, "time": _t(e.return_time), "payment_note_no": e.ent_duty_no, "source": e.source}
            for e in sorted(events, key=lambda e: (e.return_time, e.id))
        ],
    }


def _quota(lists: list[Inventory]) -> list[dict[str, Any]]:
    """Per quota year: what the quota screen computes (Σ dutiable value of the counted lists)."""
    years: dict[int, list[Decimal]] = {}
    for inv in lists:
        if inv.counted:
            years.setdefault(inv.decl_year, []).append(inv.total_value)
    out = []
    for year in sorted(years):
        q = cbec.quota_for(year, years[year])
        out.append(
            {"year": year, "limit": _d(q.limit), "consumed": _d(q.consumed), "counted_lists": q.counted}
        )
    return out


def collect_sync(session: Session, vault: Vault, tg_id: int, now: datetime) -> dict[str, Any]:
    """Everything held about this Telegram user and the identity bound to them."""
    user = session.get(TgUser, tg_id)
    binding = session.execute(select(Binding).where(Binding.telegram_user_id == tg_id)).scalar_one_or_none()
    data: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": _t(now),
        "telegram": {
            "user_id": tg_id,
            "chat_id": binding.chat_id if binding else None,
            "language_choice": user.language if user else None,
            "language_when_bound": user.seen_language if user else None,
            "first_seen": _t(user.created_at) if user else None,
            "saved_search_term": user.search_term if user else None,
        },
        "binding": None,
        "identity": None,
        "consents": [],
        "quota": [],
        "clearance_lists": [],
        "tax_slips": [],
        "notifications": [],
        "binding_failures": [
            _t(at)
            for at in session.execute(
                select(BindFailure.at).where(BindFailure.telegram_user_id == tg_id).order_by(BindFailure.at)
            ).scalars()
        ],
        "requests": [
            {"kind": kind, "requested_at": _t(at)}
            for kind, at in session.execute(
                select(DataRequest.kind, DataRequest.requested_at)
                .where(DataRequest.telegram_user_id == tg_id)
                .order_by(DataRequest.requested_at)
            ).all()
        ],
    }
    if binding is None:
        return data
    account = binding.account
    data["binding"] = {
        "bound_at": _t(binding.created_at),
        "method": binding.method,  # "link" (portal deep link) or "chat" (verified here)
        "active": binding.active,
        "notifications": {kind: bool(getattr(binding, column)) for kind, column in KIND_SETTING.items()},
    }
    data["identity"] = {
        "single_window_account": account.account_id,
        "id_type": account.id_type,
        "name": vault.decrypt(account.name_enc, "accounts.name"),
        "id_number": vault.decrypt(account.id_number_enc, "accounts.id_number"),
        "phone": vault.decrypt(account.phone_enc, "accounts.phone"),
        "registry_updated_at": _t(account.updated_at),
    }
    key = account.identity_key
    lists = list(
        session.execute(
            select(Inventory).where(Inventory.identity_key == key).order_by(Inventory.app_time, Inventory.id)
        ).scalars()
    )
    receipts: dict[int, list[Receipt]] = {}
    if lists:
        ids = [inv.id for inv in lists]
        for r in session.execute(select(Receipt).where(Receipt.inventory_id.in_(ids))).scalars():
            receipts.setdefault(r.inventory_id or 0, []).append(r)
    data["clearance_lists"] = [_list(inv, receipts.get(inv.id, [])) for inv in lists]
    data["quota"] = _quota(lists)
    slips = list(
        session.execute(
            select(TaxSlip).where(TaxSlip.identity_key == key).order_by(TaxSlip.return_time, TaxSlip.id)
        ).scalars()
    )
    events: dict[str, list[TaxStatusEvent]] = {}
    if slips:
        numbers = [s.tax_no for s in slips]
        for e in session.execute(select(TaxStatusEvent).where(TaxStatusEvent.tax_no.in_(numbers))).scalars():
            events.setdefault(e.tax_no, []).append(e)
    data["tax_slips"] = [_slip(s, events.get(s.tax_no, [])) for s in slips]
    data["notifications"] = [
        {
            "kind": o.kind, "created_at": _t(o.created_at), "status": o.status, "sent_at": _t(o.sent_at),
            "attempts": o.attempts, "last_error": o.last_error, "payload": o.payload,
        }
        for o in session.execute(
            select(Outbox).where(Outbox.binding_id == binding.id).order_by(Outbox.created_at, Outbox.id)
        ).scalars()
    ]
    return data
