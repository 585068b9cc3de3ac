"""CEB message ingest: one message = one transaction, idempotent, independent of arrival order.

Each message is parsed (storage.ceb), checked for duplicates by root guid and content hash, and
applied in a single write transaction together with the notifications it causes (outbox). Raw
events (receipts, tax-slip status events) are stored as they come; derived columns (a list's
current status, a tax slip's status, the links between them) are recomputed from the events, so
the final state is the same whatever order the messages arrive in. A rejected message changes no
row and is kept, encrypted, in the quarantine folder with a plain-text reason beside it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import and_, exists, func, or_, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import cbec
from bot.domain.identity import InvalidPhone, mask_phone, normalize_phone
from storage import outbox
from storage.ceb import CebMessage, CebRejected, Inventory, InventoryReturn, TaxSlip, TaxStatus, parse_message
from storage.db import Database
from storage.models import Account, Binding, IngestedMessage, InventoryLine, Receipt, TaxLine, TaxStatusEvent
from storage.models import Inventory as InventoryRow
from storage.models import TaxSlip as TaxSlipRow
from storage.quarantine import Quarantine
from storage.vault import Vault

log = logging.getLogger(__name__)

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED = "rejected"

# Dec5 stores amounts as int64 counts of 1e-5; anything larger is not a real CBEC amount.
_MAX_AMOUNT = Decimal(10) ** 13
QUOTA_THRESHOLDS = (80, 100)
_INGEST_LOCK = 0x5357_424F_5449_4E47  # PostgreSQL advisory lock key of ingest transactions ("SWBOTING")


class ApplyRejected(Exception):
    """The message parsed but contradicts itself or the data model (reason holds no PII)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IngestResult:
    status: str
    reason: str | None = None
    msg_type: str | None = None
    notifications: int = 0
    quarantined: Path | None = None


@dataclass
class IngestStats:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0

    def add(self, result: IngestResult) -> None:
        setattr(self, result.status, getattr(self, result.status) + 1)

    def line(self) -> str:
        return f"accepted={self.accepted} duplicate={self.duplicate} rejected={self.rejected}"


class Ingestor:
    def __init__(self, db: Database, vault: Vault, quarantine: Quarantine, *, max_bytes: int) -> None:
        self.db = db
        self.vault = vault
        self.quarantine = quarantine
        self.max_bytes = max_bytes

    async def ingest(self, data: bytes, *, source: str = "file", name: str = "-") -> IngestResult:
        try:
            message = parse_message(data, max_bytes=self.max_bytes)
            _check_ranges(message)
        except CebRejected as exc:
            return self._reject(data, exc.reason, name)
        except ApplyRejected as exc:
            return self._reject(data, exc.reason, name)
        digest = hashlib.sha256(data).digest()
        try:
            async with self.db.write() as session:
                if not self.db.is_sqlite:
                    # Applying a message reads before it writes (which list does this receipt or
                    # slip belong to?), so two writers committing a list and its receipt at the
                    # same time would each miss the other and the link would never be made.
                    # SQLite serialises write transactions (BEGIN IMMEDIATE); do the same here.
                    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INGEST_LOCK})
                if await _seen(session, message.guid, digest):
                    return IngestResult(DUPLICATE, msg_type=message.msg_type)
                session.add(
                    IngestedMessage(guid=message.guid, sha256=digest, msg_type=message.msg_type, source=source)
                )
                await session.flush()
                applier = _Applier(session, self.vault)
                await applier.apply(message)
                return IngestResult(ACCEPTED, msg_type=message.msg_type, notifications=applier.notified)
        except ApplyRejected as exc:
            return self._reject(data, exc.reason, name)
        except IntegrityError:
            # A concurrent writer stored the same message between our check and our insert.
            async with self.db.read() as session:
                if await _seen(session, message.guid, digest):
                    return IngestResult(DUPLICATE, msg_type=message.msg_type)
            return self._reject(data, f"{message.msg_type}: conflicts with stored records", name)
        except (OperationalError, DBAPIError) as exc:
            # Not the message's fault (locked or unreachable database): nothing was written and the
            # input is left where it is, so it can simply be ingested again.
            log.warning("ingest of %s failed on the database: %s", name, type(exc.orig).__name__)
            return IngestResult(REJECTED, reason="database unavailable, nothing written; retry")
        except Exception as exc:
            # Any other failure while applying (the transaction is rolled back, so nothing of the
            # message persists): keep the message in quarantine, like every rejected one, so that it
            # is not lost and can be replayed, and let the caller go on with the next message.
            log.error("ingest of %s failed: %s", name, type(exc).__name__, exc_info=True)
            reason = f"{message.msg_type}: internal error ({type(exc).__name__}), nothing written"
            return self._reject(data, reason, name)

    def _reject(self, data: bytes, reason: str, name: str) -> IngestResult:
        path = self.quarantine.put(data, reason, name)
        log.info("rejected %s: %s", name, reason)
        return IngestResult(REJECTED, reason=reason, quarantined=path)


async def _seen(session: AsyncSession, guid: str, digest: bytes) -> bool:
    stmt = select(
        exists().where(or_(IngestedMessage.guid == guid, IngestedMessage.sha256 == digest))
    )
    return bool((await session.execute(stmt)).scalar())


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


class _Applier:
    """Applies one parsed message inside the caller's transaction."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self.s = session
        self.vault = vault
        self.notified = 0

    async def apply(self, message: CebMessage) -> None:
        for item in message.items:
            if isinstance(item, Inventory):
                await self._inventory(item)
            elif isinstance(item, InventoryReturn):
                await self._receipt(item)
            elif isinstance(item, TaxSlip):
                await self._tax_slip(item)
            elif isinstance(item, TaxStatus):
                await self._tax_status(item)
            await self.s.flush()

    # -- CEB621 ----------------------------------------------------------------------------------

    async def _inventory(self, inv: Inventory) -> None:
        gnums = [line.gnum for line in inv.lines]
        if len(set(gnums)) != len(gnums):
            raise ApplyRejected("CEB621: duplicate gnum in InventoryList")
        row = (
            await self.s.execute(
                select(InventoryRow).where(
                    InventoryRow.ebc_code == inv.ebc_code, InventoryRow.order_no == inv.order_no
                )
            )
        ).scalar_one_or_none()
        is_new = row is None
        if row is not None and (inv.app_time, inv.guid) <= (row.app_time, row.guid):
            # An older (or the same) version of a list we already hold: keep the newer one.
            return
        identity_key = self.vault.identity_index(inv.buyer_id_type, inv.buyer_id_number)
        try:
            phone_masked = mask_phone(normalize_phone(inv.buyer_telephone))
        except InvalidPhone:
            phone_masked = "-"
        goods = sum((line.total_price for line in inv.lines), Decimal(0))
        fields = {
            "guid": inv.guid,
            "app_type": inv.app_type,
            "app_time": inv.app_time,
            "order_no": inv.order_no,
            "ebp_code": inv.ebp_code,
            "ebp_name": inv.ebp_name,
            "ebc_code": inv.ebc_code,
            "ebc_name": inv.ebc_name,
            "logistics_no": inv.logistics_no,
            "logistics_code": inv.logistics_code,
            "logistics_name": inv.logistics_name,
            "cop_no": inv.cop_no,
            "decl_date": inv.decl_date,
            "decl_year": inv.decl_date.year,
            "customs_code": inv.customs_code,
            "port_code": inv.port_code,
            "trade_mode": inv.trade_mode,
            "country": inv.country,
            "currency": inv.currency,
            "freight": inv.freight,
            "insured_fee": inv.insured_fee,
            "goods_value": goods,
            "total_value": cbec.dutiable_value([goods], inv.freight, inv.insured_fee),
            "identity_key": identity_key,
            "buyer_phone_key": self.vault.phone_index(inv.buyer_telephone),
            "buyer_phone_masked": phone_masked,
            "address_key": self.vault.address_index(inv.consignee_address),
            "cancelled": inv.app_type == "3",
        }
        lines = [
            InventoryLine(
                gnum=line.gnum,
                item_no=line.item_no,
                gcode=line.gcode,
                gname=line.gname,
                country=line.country,
                currency=line.currency,
                qty=line.qty,
                unit=line.unit,
                price=line.price,
                total_price=line.total_price,
            )
            for line in inv.lines
        ]
        old_identity = None if row is None else row.identity_key
        if row is None:
            row = InventoryRow(
                pre_no=inv.pre_no, invt_no=inv.invt_no, status=None, status_time=None, status_info=None,
                status_group=cbec.IN_PROGRESS, counted=False, **fields,
            )
            row.lines = lines
            self.s.add(row)
        else:
            for key, value in fields.items():
                setattr(row, key, value)
            # Numbers assigned later by E-port/customs may only be known from receipts.
            row.pre_no = inv.pre_no or row.pre_no
            row.invt_no = inv.invt_no or row.invt_no
            row.lines.clear()
            await self.s.flush()
            row.lines.extend(lines)
        await self.s.flush()
        await self._attach_receipts(row)
        await self._refresh_inventory(row)
        await self._attach_tax_slips(row)
        if is_new:
            await self._check_suspicious(row)
        if old_identity is not None and old_identity != identity_key:
            await self._refresh_quota(old_identity, row.decl_year)

    async def _attach_receipts(self, row: InventoryRow) -> None:
        match = [Receipt.guid == row.guid]
        if row.pre_no:
            match.append(Receipt.pre_no == row.pre_no)
        if row.invt_no:
            match.append(Receipt.invt_no == row.invt_no)
        if row.cop_no:
            match.append(and_(Receipt.cop_no == row.cop_no, Receipt.ebc_code == row.ebc_code))
        await self.s.execute(
            update(Receipt).where(Receipt.inventory_id.is_(None), or_(*match)).values(inventory_id=row.id)
        )

    async def _refresh_inventory(self, row: InventoryRow) -> None:
        """Recompute the list's status from all its receipts: the newest returnTime wins."""
        while True:
            receipts = (
                await self.s.execute(select(Receipt).where(Receipt.inventory_id == row.id))
            ).scalars().all()
            known = (row.pre_no, row.invt_no)
            for r in receipts:
                row.pre_no = row.pre_no or r.pre_no
                row.invt_no = row.invt_no or r.invt_no
            if (row.pre_no, row.invt_no) == known:
                break
            # A number learnt from one receipt may be the only link to another receipt that
            # arrived earlier (e.g. one naming the list by invtNo alone): attach those too.
            await self.s.flush()
            await self._attach_receipts(row)
        latest = max(receipts, key=lambda r: (r.return_time, r.return_status), default=None)
        was_counted = row.counted
        row.status = latest.return_status if latest else None
        row.status_time = latest.return_time if latest else None
        row.status_info = latest.return_info if latest else None
        row.status_group = cbec.status_group(row.status, cancelled=row.cancelled)
        row.counted = cbec.is_counted(row.status, cancelled=row.cancelled)
        await self.s.flush()
        if row.counted or was_counted:
            await self._refresh_quota(row.identity_key, row.decl_year)

    async def _attach_tax_slips(self, row: InventoryRow) -> None:
        if not row.invt_no:
            return
        slips = (
            await self.s.execute(
                select(TaxSlipRow).where(TaxSlipRow.invt_no == row.invt_no)
            )
        ).scalars().all()
        for slip in slips:
            newly_known = slip.identity_key != row.identity_key
            slip.inventory_id = row.id
            slip.identity_key = row.identity_key
            slip.order_no = slip.order_no or row.order_no
            if newly_known:
                await self._notify_new_tax(slip)

    # -- CEB622 ----------------------------------------------------------------------------------

    async def _receipt(self, ret: InventoryReturn) -> None:
        dup = (
            await self.s.execute(
                select(Receipt.id).where(
                    Receipt.guid == ret.guid,
                    Receipt.return_status == ret.return_status,
                    Receipt.return_time == ret.return_time,
                )
            )
        ).scalar_one_or_none()
        if dup is not None:
            return
        receipt = Receipt(
            guid=ret.guid, pre_no=ret.pre_no, invt_no=ret.invt_no, ebc_code=ret.ebc_code, cop_no=ret.cop_no,
            return_status=ret.return_status, return_time=ret.return_time, return_info=ret.return_info,
        )
        self.s.add(receipt)
        await self.s.flush()
        inv = await self._find_inventory(ret)
        if inv is None:
            return  # kept until its list arrives
        receipt.inventory_id = inv.id
        had_invt_no = inv.invt_no
        await self._refresh_inventory(inv)
        if inv.invt_no and inv.invt_no != had_invt_no:
            await self._attach_tax_slips(inv)

    async def _find_inventory(self, ret: InventoryReturn) -> InventoryRow | None:
        candidates = [InventoryRow.guid == ret.guid]
        if ret.pre_no:
            candidates.append(InventoryRow.pre_no == ret.pre_no)
        if ret.invt_no:
            candidates.append(InventoryRow.invt_no == ret.invt_no)
        if ret.cop_no and ret.ebc_code:
            candidates.append(and_(InventoryRow.cop_no == ret.cop_no, InventoryRow.ebc_code == ret.ebc_code))
        rows = (
            await self.s.execute(select(InventoryRow).where(or_(*candidates)).order_by(InventoryRow.id))
        ).scalars().all()
        if len(rows) > 1:
            raise ApplyRejected("CEB622: receipt matches more than one list")
        return rows[0] if rows else None

    # -- CEB816 / CEB818 -------------------------------------------------------------------------

    async def _tax_slip(self, tax: TaxSlip) -> None:
        gnums = [line.gnum for line in tax.lines]
        if len(set(gnums)) != len(gnums):
            raise ApplyRejected("CEB816: duplicate gnum in TaxListRd")
        await self._add_status_event(tax.tax_no, tax.invt_no, tax.status, tax.ent_duty_no, tax.return_time, "CEB816")
        slip = (
            await self.s.execute(select(TaxSlipRow).where(TaxSlipRow.tax_no == tax.tax_no))
        ).scalar_one_or_none()
        if slip is not None and slip.invt_no != tax.invt_no:
            raise ApplyRejected("CEB816: taxNo already belongs to another list")
        if slip is not None and (tax.return_time, tax.guid) <= (slip.return_time, slip.guid):
            await self._refresh_tax_status(slip)
            return
        fields = {
            "guid": tax.guid,
            "invt_no": tax.invt_no,
            "return_time": tax.return_time,
            "customs_tax": tax.customs_tax,
            "value_added_tax": tax.value_added_tax,
            "consumption_tax": tax.consumption_tax,
            "total_tax": tax.customs_tax + tax.value_added_tax + tax.consumption_tax,
            "note": tax.note,
            "logistics_no": tax.logistics_no,
            "customs_code": tax.customs_code,
            "ebc_code": tax.ebc_code,
        }
        lines = [
            TaxLine(
                gnum=tl.gnum, gcode=tl.gcode, tax_price=tl.tax_price, customs_tax=tl.customs_tax,
                value_added_tax=tl.value_added_tax, consumption_tax=tl.consumption_tax,
            )
            for tl in tax.lines
        ]
        is_new = slip is None
        if slip is None:
            slip = TaxSlipRow(
                tax_no=tax.tax_no, status=tax.status, status_time=tax.return_time, order_no=tax.order_no,
                ent_duty_no=tax.ent_duty_no, **fields,
            )
            slip.lines = lines
            self.s.add(slip)
        else:
            for key, value in fields.items():
                setattr(slip, key, value)
            slip.order_no = tax.order_no or slip.order_no
            slip.lines.clear()
            await self.s.flush()
            slip.lines.extend(lines)
        await self.s.flush()
        inv = (
            await self.s.execute(select(InventoryRow).where(InventoryRow.invt_no == tax.invt_no))
        ).scalar_one_or_none()
        if inv is not None:
            slip.inventory_id = inv.id
            slip.identity_key = inv.identity_key
            slip.order_no = slip.order_no or inv.order_no
        await self._refresh_tax_status(slip, notify=not is_new)
        if is_new:
            await self._notify_new_tax(slip)

    async def _tax_status(self, st: TaxStatus) -> None:
        await self._add_status_event(st.tax_no, st.invt_no, st.status, st.ent_duty_no, st.return_time, "CEB818")
        slip = (
            await self.s.execute(select(TaxSlipRow).where(TaxSlipRow.tax_no == st.tax_no))
        ).scalar_one_or_none()
        if slip is not None:
            if slip.invt_no != st.invt_no:
                raise ApplyRejected("CEB818: taxNo belongs to another list")
            await self._refresh_tax_status(slip, notify=True)

    async def _add_status_event(
        self, tax_no: str, invt_no: str, status: int, ent_duty_no: str | None, at: object, source: str
    ) -> None:
        dup = (
            await self.s.execute(
                select(TaxStatusEvent.id).where(
                    TaxStatusEvent.tax_no == tax_no,
                    TaxStatusEvent.status == status,
                    TaxStatusEvent.return_time == at,
                )
            )
        ).scalar_one_or_none()
        if dup is None:
            self.s.add(
                TaxStatusEvent(
                    tax_no=tax_no, invt_no=invt_no, status=status, ent_duty_no=ent_duty_no,
                    return_time=at, source=source,
                )
            )
            await self.s.flush()

    async def _refresh_tax_status(self, slip: TaxSlipRow, *, notify: bool = False) -> None:
        events = (
            await self.s.execute(select(TaxStatusEvent).where(TaxStatusEvent.tax_no == slip.tax_no))
        ).scalars().all()
        latest = max(events, key=lambda e: (e.return_time, e.status))
        before = slip.status
        slip.status = latest.status
        slip.status_time = latest.return_time
        # The payment note number is kept from whichever event carried one, newest first.
        with_note = [e for e in events if e.ent_duty_no]
        if with_note:
            slip.ent_duty_no = max(with_note, key=lambda e: e.return_time).ent_duty_no
        if notify and slip.status != before and slip.status in (cbec.TAX_SUMMARISED, cbec.TAX_VOID):
            recipient = await outbox.recipient_for(self.s, slip.identity_key)
            if await outbox.enqueue(
                self.s, recipient, outbox.TAX_STATUS, f"taxstatus:{slip.tax_no}:{slip.status}",
                ref_id=slip.id, payload={"status": slip.status},
            ):
                self.notified += 1

    async def _notify_new_tax(self, slip: TaxSlipRow) -> None:
        recipient = await outbox.recipient_for(self.s, slip.identity_key)
        if await outbox.enqueue(self.s, recipient, outbox.NEW_TAX, f"tax:{slip.tax_no}", ref_id=slip.id):
            self.notified += 1

    # -- derived notifications -------------------------------------------------------------------

    async def _refresh_quota(self, identity_key: bytes, year: int) -> None:
        limit = cbec.annual_limit(year)
        if limit is None:
            return
        recipient = await outbox.recipient_for(self.s, identity_key)
        if recipient is None:
            return
        consumed = (
            await self.s.execute(
                select(func.coalesce(func.sum(InventoryRow.total_value), 0)).where(
                    InventoryRow.identity_key == identity_key,
                    InventoryRow.decl_year == year,
                    InventoryRow.counted.is_(True),
                )
            )
        ).scalar_one()
        consumed = Decimal(consumed)  # SUM and COALESCE keep the Dec5 type: already in yuan
        for pct in QUOTA_THRESHOLDS:
            if consumed * 100 >= limit * pct and await outbox.enqueue(
                self.s, recipient, outbox.QUOTA, f"quota:{year}:{pct}",
                payload={"year": year, "threshold": pct},
            ):
                self.notified += 1

    async def _check_suspicious(self, row: InventoryRow) -> None:
        recipient = await outbox.recipient_for(self.s, row.identity_key)
        if recipient is None:
            return
        account = (
            await self.s.execute(
                select(Account).join(Binding, Binding.account_pk == Account.id)
                .where(Binding.id == recipient.binding_id)
            )
        ).scalar_one()
        reasons = []
        if account.phone_key != row.buyer_phone_key:
            reasons.append("phone")
        used_before = (
            await self.s.execute(
                select(
                    exists().where(
                        InventoryRow.identity_key == row.identity_key,
                        InventoryRow.ebp_code == row.ebp_code,
                        InventoryRow.id != row.id,
                    )
                )
            )
        ).scalar()
        has_history = (
            await self.s.execute(
                select(exists().where(InventoryRow.identity_key == row.identity_key, InventoryRow.id != row.id))
            )
        ).scalar()
        if has_history and not used_before:
            reasons.append("platform")
        if reasons and await outbox.enqueue(
            self.s, recipient, outbox.SUSPICIOUS, f"suspicious:{row.id}", ref_id=row.id,
            payload={"reasons": reasons},
        ):
            self.notified += 1


def iter_paths(paths: Sequence[str]) -> list[Path]:
    """Files named, and `*.xml` under directories (recursively), in sorted path order."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*.xml") if q.is_file()))
        else:
            found.append(p)
    return found
