"""Shared builders for the storage tests (this module holds no tests of its own).

CEB messages are built from parameters rather than copied from the samples so that a test can make
as many independent records as it needs (distinct guids, order, pre-entry, list and tax numbers),
and identities are generated with the real ID check digit. `table_checksums` and `records_state`
read a whole database back, for "nothing changed" and "same final state" comparisons.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import event, select, text

from bot.domain import cebxml
from bot.domain.identity import make_id_number
from storage.db import Database
from storage.ingest import Ingestor, IngestResult
from storage.models import (
    Base,
    Binding,
    Inventory,
    InventoryLine,
    ListRequest,
    ListRequestLine,
    Outbox,
    Receipt,
    RequestReceipt,
    TaxLine,
    TaxSlip,
    TaxStatusEvent,
    TgUser,
)
from storage.quarantine import Quarantine
from storage.vault import Vault

EBC = "4401962010"
EBP = "3301964J31"

# Characters for synthetic names. None of them occurs in the fixed texts the builders put into
# messages (company, platform and product names below), so a hit in a database dump is a leak.
SURNAMES = "赵钱孙李周吴郑冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛超秀霞平刚桂英华玉萍红鹏飞宇浩然"


def uid(*parts: object) -> str:
    """A deterministic lowercase UUID for a name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "swbot-test/" + "/".join(map(str, parts))))


@dataclass(frozen=True)
class Person:
    account_id: str
    name: str
    id_number: str
    phone: str  # 11-digit national mobile number
    id_type: str = "1"
    address: str = "上海市徐汇区漕溪北路1号"

    def csv_row(self, phone: str | None = None) -> str:
        return f"{self.account_id},{self.name},{self.id_type},{self.id_number},{phone or self.phone}"


def person(i: int) -> Person:
    """The i-th synthetic person: a valid ID number, a unique mobile and a unique 3-character name."""
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=97 * i)
    name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)] + GIVEN[(i * 7 + 3) % len(GIVEN)]
    return Person(
        account_id=f"acct{i:05d}",
        name=name,
        id_number=make_id_number("310104", birth, i % 1000),
        phone=f"139{(i * 7919) % 100_000_000:08d}",
        address=f"上海市徐汇区漕溪北路{i + 1}号",
    )


def people(n: int) -> list[Person]:
    found = [person(i) for i in range(n)]
    assert len({p.name for p in found}) == n, "synthetic names must be unique"
    return found


def accounts_csv(persons: Iterable[Person], *, bom: bool = False) -> bytes:
    body = "account_id,name,id_type,id_number,phone\n" + "".join(p.csv_row() + "\n" for p in persons)
    return (("\ufeff" if bom else "") + body).encode("utf-8")


# -- CEB messages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    gnum: int
    total: str
    qty: str = "1"
    price: str | None = None  # defaults to total / qty
    gname: str = "婴儿配方奶粉"
    gcode: str = "1901101000"
    unit: str = "122"
    country: str = "116"
    currency: str = "142"

    def unit_price(self) -> str:
        if self.price is not None:
            return self.price
        unit = (Decimal(self.total) / Decimal(self.qty)).quantize(Decimal("0.00001"))
        return format(unit, "f").rstrip("0").rstrip(".")


@dataclass(frozen=True)
class ListSpec:
    """One CEB621 list. Numbers are derived from `key` unless given."""

    key: str
    buyer: Person
    app_time: dt.datetime = dt.datetime(2025, 3, 1, 10, 0, 0)
    decl_date: dt.date | None = None  # defaults to app_time's date
    lines: tuple[Line, ...] = (Line(1, "410.00", qty="2"), Line(2, "199.00"))
    freight: str = "0"
    insured: str = "0"
    pre_no: str | None = ""  # "" = derived from key; None = absent
    invt_no: str | None = ""
    cop_no: str | None = None
    ebc_code: str = EBC
    ebp_code: str = EBP
    ebp_name: str = "天猫国际"
    order_no: str | None = None
    app_type: str = "1"
    guid: str | None = None
    root_guid: str | None = None
    id_number: str | None = None  # override the buyer's (e.g. an invalid one)
    extra_head: dict[str, str] = field(default_factory=dict)
    app_status: str = "2"  # "1": a draft (暂存)
    signed: bool = False
    style: cebxml.Style = field(default_factory=cebxml.Style)

    @property
    def order(self) -> str:
        return self.order_no or f"ORD-{self.key}"

    @property
    def pre(self) -> str | None:
        return pre_no(self.key) if self.pre_no == "" else self.pre_no

    @property
    def invt(self) -> str | None:
        return invt_no(self.key) if self.invt_no == "" else self.invt_no

    @property
    def list_guid(self) -> str:
        return self.guid or uid("list", self.key)


def _serial(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % 1_000_000_000


def pre_no(key: str) -> str:
    return f"B20250301{_serial(key):09d}"


def invt_no(key: str) -> str:
    return f"29242025I{_serial(key):09d}"


def tax_no(key: str) -> str:
    return invt_no(key) + "_0"


SIGNATURE = cebxml.Signature(
    digest=hashlib.sha1(b"swbot-test").digest(), value=bytes(range(64)), certificate=bytes(range(256)) * 4
)


def ceb621(spec: ListSpec) -> bytes:
    decl = spec.decl_date or spec.app_time.date()
    head: dict[str, str | None] = {
        "guid": spec.list_guid,
        "appType": spec.app_type,
        "appTime": cebxml.app_time(spec.app_time),
        "appStatus": spec.app_status,
        "orderNo": spec.order,
        "ebpCode": spec.ebp_code,
        "ebpName": spec.ebp_name,
        "ebcCode": spec.ebc_code,
        "ebcName": "某某跨境电子商务有限公司",
        "logisticsNo": f"JD{_serial(spec.key):013d}",
        "logisticsCode": "1105910159",
        "logisticsName": "京东物流股份有限公司",
        "copNo": spec.cop_no,
        "preNo": spec.pre,
        "assureCode": "330766K00Q",
        "invtNo": spec.invt,
        "ieFlag": "I",
        "declTime": cebxml.day(decl),
        "customsCode": "2924",
        "portCode": "2924",
        "ieDate": cebxml.day(decl),
        "buyerIdType": spec.buyer.id_type,
        "buyerIdNumber": spec.id_number or spec.buyer.id_number,
        "buyerName": spec.buyer.name,
        "buyerTelephone": spec.buyer.phone,
        "consigneeAddress": spec.buyer.address,
        "agentCode": "3301980Z02",
        "agentName": "某某报关有限公司",
        "tradeMode": "1210",
        "trafMode": "Y",
        "country": "142",
        "freight": spec.freight,
        "insuredFee": spec.insured,
        "currency": "142",
        "packNo": "1",
        "grossWeight": "2.35",
        "netWeight": "1.90",
    }
    head.update(spec.extra_head)
    lines = [
        {
            "gnum": ln.gnum,
            "itemNo": f"SKU-{ln.gnum}",
            "gcode": ln.gcode,
            "gname": ln.gname,
            "country": ln.country,
            "currency": ln.currency,
            "qty": ln.qty,
            "unit": ln.unit,
            "price": ln.unit_price(),
            "totalPrice": ln.total,
        }
        for ln in spec.lines
    ]
    return cebxml.message(
        "CEB621",
        spec.root_guid or spec.list_guid,
        [cebxml.inventory(head, lines)],
        transfer=TRANSFER,
        signature=SIGNATURE if spec.signed else None,
        style=spec.style,
    )


TRANSFER = cebxml.base_transfer({"copCode": "3301980Z02", "dxpMode": "DXP"})


def ret_time(t: dt.datetime) -> str:
    """17-digit yyyyMMddHHmmssfff."""
    return cebxml.return_time(t)


def ceb622(
    key: str,
    status: int,
    at: dt.datetime,
    *,
    pre: str | None = None,
    invt: str | None = None,
    cop_no: str | None = None,
    ebc_code: str | None = EBC,
    info: str = "[Code:2600;Desc:放行]",
    guid: str | None = None,
    root_guid: str | None = None,
) -> bytes:
    """A receipt; its node guid is NOT the list's guid, so it links by the numbers given."""
    node = cebxml.inventory_return(
        {
            "guid": guid or uid("receipt-node", key),
            "customsCode": "2924",
            "ebcCode": ebc_code,
            "copNo": cop_no,
            "preNo": pre,
            "invtNo": invt,
            "returnStatus": status,
            "returnTime": ret_time(at),
            "returnInfo": info,
        }
    )
    return cebxml.message("CEB622", root_guid or uid("receipt", key, status, ret_time(at)), [node])


def request_head(
    spec: ListSpec, at: dt.datetime, *, cop_no: str, app_status: str = "2", app_type: str = "1", reason: str,
    invt: str | None = "", guid: str | None = None,
) -> dict[str, str | None]:
    """The head of a cancellation (CEB623) or a return (CEB625) of `spec`'s list."""
    return {
        "guid": guid or uid("request", spec.key, cop_no, app_type, ret_time(at)),
        "appType": app_type,
        "appTime": cebxml.app_time(at),
        "appStatus": app_status,
        "customsCode": "2924",
        "orderNo": spec.order,
        "ebpCode": spec.ebp_code,
        "ebpName": spec.ebp_name,
        "ebcCode": spec.ebc_code,
        "ebcName": "某某跨境电子商务有限公司",
        "logisticsNo": f"JD{_serial(spec.key):013d}",
        "logisticsCode": "1105910159",
        "logisticsName": "京东物流股份有限公司",
        "copNo": cop_no,
        "preNo": "",  # E-port assigns it; its receipts carry it
        "invtNo": spec.invt if invt == "" else invt,
        "buyerIdType": spec.buyer.id_type,
        "buyerIdNumber": spec.id_number or spec.buyer.id_number,
        "buyerName": spec.buyer.name,
        "buyerTelephone": spec.buyer.phone,
        "agentCode": "3301980Z02",
        "agentName": "某某报关有限公司",
        "reason": reason,
        "note": "",
    }


def ceb623(spec: ListSpec, at: dt.datetime, *, cop_no: str | None = None, signed: bool = True, **kw: Any) -> bytes:
    head = request_head(spec, at, cop_no=cop_no or f"CX-{spec.key}", reason="消费者取消订单", **kw)
    return cebxml.message(
        "CEB623", uid("ceb623", spec.key, ret_time(at)), [cebxml.invt_cancel(head)], transfer=TRANSFER,
        signature=SIGNATURE if signed else None, style=cebxml.Style(prefix="ceb"),
    )


def ceb625(
    spec: ListSpec, at: dt.datetime, returned: Sequence[tuple[int, str]], *, cop_no: str | None = None,
    signed: bool = True, **kw: Any,
) -> bytes:
    """A return of `returned` = (gnum, qty) lines of `spec`'s list."""
    head = request_head(spec, at, cop_no=cop_no or f"TH-{spec.key}", reason="质量问题退货", **kw)
    by_gnum = {ln.gnum: ln for ln in spec.lines}
    lines = [
        {"gnum": g, "gcode": by_gnum[g].gcode, "gname": by_gnum[g].gname, "qty": q, "unit": by_gnum[g].unit}
        for g, q in returned
    ]
    return cebxml.message(
        "CEB625", uid("ceb625", spec.key, cop_no, ret_time(at)), [cebxml.invt_refund(head, lines)],
        transfer=TRANSFER, signature=SIGNATURE if signed else None, style=cebxml.Style(prefix="ceb"),
    )


def _request_return(
    msg_type: str, key: str, status: int, at: dt.datetime, *, cop_no: str | None, pre: str | None,
    invt: str | None, info: str, ebc_code: str | None = EBC,
) -> bytes:
    values = {
        "guid": uid(msg_type, "node", key, status, ret_time(at)),
        "customsCode": "2924",
        "agentCode": "3301980Z02",
        "ebcCode": ebc_code,
        "copNo": cop_no,
        "preNo": pre,
        "invtNo": invt,
        "returnStatus": status,
        "returnTime": ret_time(at),
        "returnInfo": info,
    }
    node = (cebxml.invt_cancel_return if msg_type == "CEB624" else cebxml.invt_refund_return)(values)
    root = uid(msg_type, key, status, ret_time(at))
    return cebxml.message(msg_type, root, [node], style=cebxml.Style(standalone=True))


CANCEL_APPROVED = "[Code:2300;Desc:审核通过],撤单申请审核通过,清单[{invt}]已成功撤单"
REFUND_APPROVED = "[Code:2300;Desc:审核通过],退货申请审核通过"


def ceb624(
    spec: ListSpec, status: int, at: dt.datetime, *, cop_no: str | None = None, pre: str | None = "",
    invt: str | None = "", info: str | None = None,
) -> bytes:
    """A receipt of `spec`'s cancellation (399 = approved). By default it names the cancellation by
    its copNo and preNo and the list by its invtNo, as the customs do."""
    return _request_return(
        "CEB624", spec.key, status, at, cop_no=cop_no or f"CX-{spec.key}",
        pre=f"C{spec.pre[1:]}" if pre == "" and spec.pre else pre, invt=spec.invt if invt == "" else invt,
        info=info or CANCEL_APPROVED.format(invt=spec.invt),
    )


def ceb626(
    spec: ListSpec, status: int, at: dt.datetime, *, cop_no: str | None = None, pre: str | None = "",
    invt: str | None = "", info: str = REFUND_APPROVED,
) -> bytes:
    return _request_return(
        "CEB626", spec.key + (cop_no or ""), status, at, cop_no=cop_no or f"TH-{spec.key}",
        pre=f"T{spec.pre[1:]}" if pre == "" and spec.pre else pre, invt=spec.invt if invt == "" else invt,
        info=info,
    )


@dataclass(frozen=True)
class TaxLineSpec:
    gnum: int
    tax_price: str
    vat: str
    consumption: str = "0"
    customs: str = "0"
    gcode: str | None = "1901101000"


def ceb816(
    key: str,
    at: dt.datetime,
    lines: Sequence[TaxLineSpec] = (TaxLineSpec(1, "410.0", "37.31"), TaxLineSpec(2, "199.0", "18.11")),
    *,
    status: int = 1,
    ent_duty_no: str | None = None,
    invt: str | None = None,
    tax: str | None = None,
    order_no: str | None = None,
    root_guid: str | None = None,
) -> bytes:
    def total(attr: str) -> str:
        return str(sum((Decimal(getattr(ln, attr)) for ln in lines), Decimal(0)))

    guid = root_guid or uid("tax", key, ret_time(at))
    head = {
        "guid": guid,
        "returnTime": ret_time(at),
        "invtNo": invt or invt_no(key),
        "taxNo": tax or tax_no(key),
        "customsTax": total("customs"),
        "valueAddedTax": total("vat"),
        "consumptionTax": total("consumption"),
        "status": status,
        "entDutyNo": ent_duty_no,
        "ebcCode": EBC,
        "customsCode": "2924",
        "orderNo": order_no,
    }
    rows = [
        {
            "gnum": ln.gnum,
            "gcode": ln.gcode,
            "taxPrice": ln.tax_price,
            "customsTax": ln.customs,
            "valueAddedTax": ln.vat,
            "consumptionTax": ln.consumption,
        }
        for ln in lines
    ]
    return cebxml.message("CEB816", guid, [cebxml.tax(head, rows)])


def ceb818(
    key: str,
    status: int,
    at: dt.datetime,
    *,
    ent_duty_no: str | None = None,
    invt: str | None = None,
    tax: str | None = None,
    root_guid: str | None = None,
) -> bytes:
    guid = root_guid or uid("taxstatus", key, status, ret_time(at))
    node = cebxml.tax_status(
        {
            "guid": guid,
            "returnTime": ret_time(at),
            "invtNo": invt or invt_no(key),
            "taxNo": tax or tax_no(key),
            "status": status,
            "entDutyNo": ent_duty_no,
        }
    )
    return cebxml.message("CEB818", guid, [node], style=cebxml.Style(declaration=False))


# -- running and reading back ----------------------------------------------------------------------

MAX_BYTES = 10 * 1024 * 1024


def ingestor(db: Database, vault: Vault, quarantine: Quarantine) -> Ingestor:
    return Ingestor(db, vault, quarantine, max_bytes=MAX_BYTES)


async def ingest_all(ing: Ingestor, messages: Iterable[bytes]) -> list[IngestResult]:
    return [await ing.ingest(m, name=f"m{i}.xml") for i, m in enumerate(messages)]


def _cell(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes | bytearray | memoryview) else value


async def table_rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered by primary key."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with db.read() as s:
        for table in Base.metadata.sorted_tables:
            stmt = select(table).order_by(*table.primary_key.columns)
            out[table.name] = [tuple(_cell(v) for v in row) for row in (await s.execute(stmt)).all()]
    return out


async def table_checksums(db: Database) -> dict[str, str]:
    rows = await table_rows(db)
    return {name: hashlib.sha256(repr(r).encode()).hexdigest() for name, r in rows.items()}


async def wipe(db: Database) -> None:
    """Delete every row (children first): a fresh database without re-running the migrations."""
    async with db.write() as s:
        for table in reversed(Base.metadata.sorted_tables):
            await s.execute(table.delete())


_PEOPLE_TABLES = frozenset({"accounts", "tg_users", "bindings", "link_tokens", "bind_failures"})


async def wipe_records(db: Database) -> None:
    """Delete the customs records, the ingest log and the outbox; keep accounts and bindings."""
    async with db.write() as s:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in _PEOPLE_TABLES:
                await s.execute(table.delete())


async def records_state(db: Database) -> dict[str, Any]:
    """The customs records by natural keys (no surrogate ids, no bookkeeping times)."""
    async with db.read() as s:
        invs = (await s.execute(select(Inventory))).scalars().all()
        by_id = {i.id: (i.ebc_code, i.order_no) for i in invs}
        inventories = {
            (i.ebc_code, i.order_no): (
                i.pre_no, i.invt_no, i.status, i.status_time, i.status_info, i.status_group, i.counted,
                i.total_value, i.identity_key, i.app_time, i.guid, i.draft, i.cancelled, i.cancel_state,
                i.cancel_time, i.cancel_info, i.refund_state, i.refund_time, i.refund_info, i.returned_value,
                i.returned_items, tuple((ln.gnum, ln.qty, ln.price, ln.total_price, ln.returned_qty) for ln in i.lines),
            )
            for i in invs
        }
        requests = {
            (r.kind, r.ebc_code, r.order_no, r.doc_no): (
                r.guid, r.invt_no, r.cop_no, r.pre_no, r.app_type, r.app_status, r.app_time, r.reason,
                tuple((ln.gnum, ln.qty) for ln in r.lines),
            )
            for r in (await s.execute(select(ListRequest))).scalars()
        }
        answers = sorted(
            (a.kind, a.guid, a.return_status, a.return_time, a.cop_no, a.pre_no, a.invt_no, a.return_info)
            for a in (await s.execute(select(RequestReceipt))).scalars()
        )
        receipts = sorted(
            (r.guid, r.return_status, r.return_time, by_id.get(r.inventory_id))
            for r in (await s.execute(select(Receipt))).scalars()
        )
        slips = {
            t.tax_no: (
                t.status, t.status_time, t.ent_duty_no, by_id.get(t.inventory_id), t.identity_key, t.total_tax,
                t.return_time, t.order_no, tuple((ln.gnum, ln.tax_price, ln.value_added_tax) for ln in t.lines),
            )
            for t in (await s.execute(select(TaxSlip))).scalars()
        }
        events = sorted(
            (e.tax_no, e.status, e.return_time, e.ent_duty_no)
            for e in (await s.execute(select(TaxStatusEvent))).scalars()
        )
        counts = {
            m.__tablename__: (await s.execute(text(f"SELECT count(*) FROM {m.__tablename__}"))).scalar_one()
            for m in (
                Inventory, InventoryLine, Receipt, TaxSlip, TaxLine, TaxStatusEvent, ListRequest, ListRequestLine,
                RequestReceipt,
            )
        }
    return {
        "inventories": inventories, "receipts": receipts, "slips": slips, "events": events, "requests": requests,
        "request_receipts": answers, "counts": counts,
    }


async def outbox_events(db: Database) -> list[tuple[str, str]]:
    """The notifications queued, by kind and dedupe key (no ids, no times)."""
    async with db.read() as s:
        return sorted((o.kind, o.dedupe_key) for o in (await s.execute(select(Outbox))).scalars())


async def bind(db: Database, account_id: str, telegram_user_id: int, **settings: bool) -> int:
    """Bind a Telegram user to an imported account (as the binding flow would); returns the binding id."""
    from storage.models import Account

    async with db.write() as s:
        account_pk = (await s.execute(select(Account.id).where(Account.account_id == account_id))).scalar_one()
        s.add(TgUser(telegram_user_id=telegram_user_id))
        await s.flush()
        binding = Binding(
            telegram_user_id=telegram_user_id, account_pk=account_pk, chat_id=telegram_user_id,
            tag=f"{telegram_user_id % 10**8:08d}", method="link", **settings,
        )
        s.add(binding)
        await s.flush()
        return binding.id


# Receipt texts that ask the buyer to act, as customs write them (reference/next-features.md §1).
VERIFY_INFO = (
    "挂起,向订购人发起交易真实性验核，请及时联系订购人在15天内登入“掌上海关”APP、微信小程序或“掌上单一窗口”APP完成验核"
)
OVER_LIMIT_INFO = (
    "[Code:1313;Desc:订购人购买超过年度限额,超过个人年度购买额度;totalPrice：26,114.44 > limitPrice: 26,000;]"
)
PHONE_INFO = "[Code:130126;Desc:清单上的订购人电话号码与订单上的订购人电话号码不一致]"


@contextmanager
def commits_of(db: Database) -> Iterator[list[object]]:
    """Every COMMIT of the database's writer (SQLite's synchronous engine, or PostgreSQL's)."""
    seen: list[object] = []
    engine = db.sync_write_engine if db.is_sqlite else db.write_engine.sync_engine
    assert engine is not None
    on_commit = seen.append  # one bound method, to remove the same listener
    event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "commit", on_commit)
