"""storage.ingest on real customs messages: signed lists, drafts, cancellations (CEB623/624) and
returns (CEB625/626) in every arrival order, duplicates by type + guid, receipts that ask the buyer
to act, status pushes, and hostile variants that change nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import permutations

import pytest
from sqlalchemy import select

from bot.domain import cbec, cebxml
from bot.domain.notices import NoticeKind
from bot.domain.records import ListFilter
from storage import queries
from storage.accounts import import_accounts
from storage.db import Database
from storage.ingest import ACCEPTED, DUPLICATE, REJECTED, Ingestor
from storage.models import Inventory, Outbox
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support.cpu import cpu_time
from tests.support.storage import (
    OVER_LIMIT_INFO,
    PHONE_INFO,
    SIGNATURE,
    VERIFY_INFO,
    Line,
    ListSpec,
    accounts_csv,
    bind,
    ceb621,
    ceb622,
    ceb623,
    ceb624,
    ceb625,
    ceb626,
    ingest_all,
    ingestor,
    outbox_events,
    person,
    records_state,
    table_checksums,
    uid,
    wipe_records,
)

T0 = dt.datetime(2026, 3, 2, 9, 30, 0)
BUYER = person(11)
TG = 7001


def at(minutes: int, millis: int = 0) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes, milliseconds=millis)


async def bound(db: Database, vault: Vault, **settings: bool) -> None:
    await import_accounts(db, vault, accounts_csv([BUYER]))
    await bind(db, BUYER.account_id, TG, **settings)


async def consumed(db: Database, vault: Vault, year: int = 2026) -> Decimal:
    async with db.read() as s:
        quota = await queries.quota_overview(s, vault.identity_index("1", BUYER.id_number), year, dt.date(year, 12, 1))
    return quota.consumed


async def the_list(db: Database) -> Inventory:
    async with db.read() as s:
        return (await s.execute(select(Inventory))).scalar_one()


# -- the whole life of one order, cancelled --------------------------------------------------------
#
# A signed list with a real-style guid (36 characters, not a UUID), its receipts 120 and 399 (it
# counts), the cancellation (CEB623, signed, ceb: prefix) and the customs' approval (CEB624 399).

CANCELLED = ListSpec(
    "cancel-life", BUYER, app_time=T0, guid="CEB621_HNZB_FXJK_20260302093000_0001", signed=True,
    freight="12.00", insured="1.50", style=cebxml.Style(prefix="ceb", standalone=True),
)


def cancel_life() -> dict[str, bytes]:
    spec = CANCELLED
    return {
        "list": ceb621(spec),
        "r120": ceb622("cl-120", 120, at(2), pre=spec.pre, invt=spec.invt, info="[Code:1800;Desc:逻辑校验通过]"),
        "r399": ceb622("cl-399", 399, at(3), pre=spec.pre, invt=spec.invt, info="[Code:2100;Desc:海关审结]"),
        "cancel": ceb623(spec, at(60)),
        "approved": ceb624(spec, 399, at(90)),
    }


async def test_cancellation_in_every_arrival_order(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    """All 120 orders of list, two receipts, cancellation and its approval end in the same state:
    cancelled, not counted, the year's quota given back, and the person told exactly once."""
    await bound(db, vault)
    msgs = cancel_life()
    ing = ingestor(db, vault, quarantine)
    reference = None
    for order in permutations(msgs):
        await wipe_records(db)
        results = await ingest_all(ing, (msgs[n] for n in order))
        assert [r.status for r in results] == [ACCEPTED] * 5, (order, [r.reason for r in results])
        state = (await records_state(db), await outbox_events(db))
        if reference is None:
            reference = state
            inv = await the_list(db)
            assert (inv.status, inv.cancelled, inv.counted) == (399, True, False)
            assert (inv.cancel_state, inv.cancel_time) == ("approved", at(90))
            assert inv.cancel_info.startswith("[Code:2300;Desc:审核通过]")
            assert inv.status_group == cbec.REJECTED  # "rejected or returned" (DESIGN §4a: cancelled)
            assert await consumed(db, vault) == 0
            events = await outbox_events(db)
            assert events == [(NoticeKind.QUOTA_BACK, f"quotaback:{inv.id}:cancel:1")]
        else:
            assert state[0] == reference[0], order
            assert [k for k, _ in state[1]] == [NoticeKind.QUOTA_BACK], order


async def test_before_the_cancellation_the_list_counts(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    await bound(db, vault)
    msgs = cancel_life()
    ing = ingestor(db, vault, quarantine)
    await ingest_all(ing, [msgs["list"], msgs["r120"], msgs["r399"]])
    assert await consumed(db, vault) == Decimal("622.50")  # 609 goods + 12 freight + 1.50 insurance
    await ing.ingest(msgs["cancel"])
    inv = await the_list(db)
    assert (inv.cancel_state, inv.cancel_time, inv.counted) == ("pending", at(60), True)
    assert await consumed(db, vault) == Decimal("622.50")  # asked for, not approved: still counts


async def test_refused_cancellation_keeps_counting(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    await bound(db, vault)
    msgs = cancel_life()
    refused = ceb624(CANCELLED, 100, at(90), info="[Code:2301;Desc:审核不通过],清单已放行,不允许撤单")
    await ingest_all(ingestor(db, vault, quarantine), [*list(msgs.values())[:4], refused])
    inv = await the_list(db)
    assert (inv.cancel_state, inv.cancelled, inv.counted) == ("refused", False, True)
    assert await consumed(db, vault) == Decimal("622.50")
    assert await outbox_events(db) == []


async def test_newest_cancellation_receipt_decides(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    await bound(db, vault)
    msgs = cancel_life()
    ing = ingestor(db, vault, quarantine)
    accepted = ceb624(CANCELLED, 120, at(70), info="[Code:2200;Desc:入库成功]")
    for extra in (accepted, msgs["approved"]), (msgs["approved"], accepted):
        await wipe_records(db)
        await ingest_all(ing, [*list(msgs.values())[:4], *extra])
        assert (await the_list(db)).cancel_state == "approved"


async def test_an_approving_receipt_alone_cancels(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    """The customs name the list in their answer: it is enough even if the CEB623 never reached us."""
    await bound(db, vault)
    msgs = cancel_life()
    await ingest_all(ingestor(db, vault, quarantine), [msgs["approved"], msgs["list"], msgs["r399"]])
    inv = await the_list(db)
    assert (inv.cancelled, inv.counted) == (True, False)


async def test_draft_cancellation_changes_nothing(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    await bound(db, vault)
    msgs = cancel_life()
    draft = ceb623(CANCELLED, at(60), app_status="1", signed=False)
    await ingest_all(ingestor(db, vault, quarantine), [msgs["list"], msgs["r399"], draft])
    inv = await the_list(db)
    assert (inv.cancel_state, inv.counted) == (None, True)


async def test_cancellation_of_a_refused_list_gives_nothing_back(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    await bound(db, vault)
    msgs = cancel_life()
    refused = ceb622("cl-100", 100, at(3), pre=CANCELLED.pre, invt=CANCELLED.invt, info="[Code:1322;Desc:商品项不一致]")
    await ingest_all(ingestor(db, vault, quarantine), [msgs["list"], refused, msgs["cancel"], msgs["approved"]])
    assert (await the_list(db)).cancelled is True
    assert [k for k, _ in await outbox_events(db)] == [NoticeKind.LIST_STATUS]  # "refused", and no quota back


# -- returns ---------------------------------------------------------------------------------------

RETURNED = ListSpec(
    "return-life", BUYER, app_time=T0, freight="10", insured="0",
    lines=(Line(1, "400.00", qty="2"), Line(2, "100.00", qty="1")),
)


def return_life(returned: tuple[tuple[int, str], ...] = ((1, "1"),)) -> dict[str, bytes]:
    spec = RETURNED
    return {
        "list": ceb621(spec),
        "r800": ceb622("rl-800", 800, at(5), pre=spec.pre, invt=spec.invt),
        "refund": ceb625(spec, at(600), returned),
        "approved": ceb626(spec, 399, at(900)),
    }


async def test_partial_return_in_every_arrival_order(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    """One of two bottles of line 1 goes back: its share of the dutiable value (200 goods + 4.00
    of the 10 freight, shared by line value) leaves the quota; the list still counts the rest."""
    await bound(db, vault)
    msgs = return_life()
    ing = ingestor(db, vault, quarantine)
    reference = None
    for order in permutations(msgs):
        await wipe_records(db)
        results = await ingest_all(ing, (msgs[n] for n in order))
        assert [r.status for r in results] == [ACCEPTED] * 4, order
        # Surrogate ids (in the outbox's keys) differ between runs on PostgreSQL: compare kinds.
        state = (await records_state(db), [k for k, _ in await outbox_events(db)])
        if reference is None:
            reference = state
            inv = await the_list(db)
            assert (inv.refund_state, inv.refund_time) == ("approved", at(900))
            assert (inv.returned_value, inv.returned_items, inv.counted) == (Decimal("204.00"), 1, True)
            assert inv.status_group == cbec.RELEASED  # partly returned: still a released list
            assert [ln.returned_qty for ln in inv.lines] == [Decimal(1), None]
            assert await consumed(db, vault) == Decimal("306.00")  # 510 − 204
            assert state[1] == [NoticeKind.LIST_STATUS, NoticeKind.QUOTA_BACK]
        else:
            assert state == reference, order


async def test_full_return_no_longer_counts(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    await bound(db, vault)
    msgs = return_life(((1, "2"), (2, "1")))
    await ingest_all(ingestor(db, vault, quarantine), msgs.values())
    inv = await the_list(db)
    assert (inv.returned_value, inv.returned_items) == (inv.total_value, 2)
    assert (inv.counted, inv.status_group) == (False, cbec.REJECTED)
    assert await consumed(db, vault) == 0


async def test_two_returns_add_up_and_are_capped(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    await bound(db, vault)
    spec = RETURNED
    msgs = [
        ceb621(spec), ceb622("rl-800", 800, at(5), pre=spec.pre, invt=spec.invt),
        ceb625(spec, at(600), ((1, "1"),), cop_no="TH-A"), ceb626(spec, 399, at(700), cop_no="TH-A"),
        ceb625(spec, at(800), ((1, "5"),), cop_no="TH-B"), ceb626(spec, 399, at(900), cop_no="TH-B"),
    ]
    await ingest_all(ingestor(db, vault, quarantine), msgs)
    inv = await the_list(db)
    assert [ln.returned_qty for ln in inv.lines] == [Decimal(2), None]  # 1 + 5, capped at the 2 bought
    assert inv.returned_value == Decimal("408.00")


async def test_pending_refused_and_withdrawn_returns_give_nothing(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    await bound(db, vault)
    msgs = return_life()
    ing = ingestor(db, vault, quarantine)
    await ingest_all(ing, [msgs["list"], msgs["r800"], msgs["refund"]])
    assert ((await the_list(db)).refund_state, await consumed(db, vault)) == ("pending", Decimal("510.00"))
    await ing.ingest(ceb626(RETURNED, 100, at(900), info="[Code:2301;Desc:审核不通过],超过退货期限"))
    assert ((await the_list(db)).refund_state, await consumed(db, vault)) == ("refused", Decimal("510.00"))
    await wipe_records(db)
    withdrawn = ceb625(RETURNED, at(650), ((1, "1"),), app_type="3")
    await ingest_all(ing, [*msgs.values(), withdrawn])
    inv = await the_list(db)
    assert (inv.refund_state, inv.returned_value) == (None, 0)


# -- drafts ----------------------------------------------------------------------------------------


async def test_a_draft_is_kept_but_never_shown_counted_or_warned_about(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    await bound(db, vault)
    identity = vault.identity_index("1", BUYER.id_number)
    stranger_phone = ListSpec("draft", BUYER, app_status="1", extra_head={"buyerTelephone": "13911112222"})
    ing = ingestor(db, vault, quarantine)
    await ingest_all(ing, [ceb621(stranger_phone), ceb622("draft-800", 800, at(5), pre=stranger_phone.pre)])
    inv = await the_list(db)
    assert (inv.draft, inv.counted, inv.status) == (True, False, 800)
    async with db.read() as s:
        assert (await queries.clearance_lists(s, identity, ListFilter(), 0)).total == 0
        assert await queries.list_detail(s, identity, inv.id) is None
        assert (await queries.quota_overview(s, identity, 2025, dt.date(2026, 1, 5))).years == (2026,)
    assert await outbox_events(db) == []  # no "was this you?", no "released"
    declared = ListSpec(
        "draft", BUYER, app_status="2", app_time=stranger_phone.app_time + dt.timedelta(hours=1),
        extra_head={"buyerTelephone": "13911112222"}, guid=uid("list", "draft", "declared"),
    )
    await ing.ingest(ceb621(declared))
    inv = await the_list(db)
    assert (inv.draft, inv.counted) == (False, True)
    assert sorted(k for k, _ in await outbox_events(db)) == [NoticeKind.LIST_STATUS, NoticeKind.SUSPICIOUS]


async def test_a_declaration_outranks_a_later_draft(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    declared = ListSpec("rank", BUYER)
    later = declared.app_time + dt.timedelta(days=1)
    draft = ListSpec("rank", BUYER, app_status="1", app_time=later, guid=uid("list", "rank", "draft"))
    ing = ingestor(db, vault, quarantine)
    for order in ([declared, draft], [draft, declared]):
        await wipe_records(db)
        await ingest_all(ing, [ceb621(x) for x in order])
        inv = await the_list(db)
        assert (inv.draft, inv.app_time) == (False, declared.app_time)


async def test_official_sample_shape(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    """Like the customs' own CEB621 sample: ten Inventory nodes under one guid, alternating a
    declared order and a draft of another, signed; like their CEB622 sample: ten copies of one
    receipt in one message."""
    declared = ListSpec("official-1", BUYER, guid="4CDE1CFD-EDED-46B1-946C-B8022E42FC94", pre_no="", invt_no="")
    draft = ListSpec("official-8", BUYER, guid="4CDE1CFD-EDED-46B1-946C-B8022E42FC94", app_status="1")
    nodes = []
    for _ in range(5):
        for spec in (declared, draft):
            message = ceb621(spec)
            nodes.append(message[message.index(b"<Inventory>") : message.index(b"</Inventory>") + 12])
    signed = ceb621(declared).replace(
        ceb621(declared)[ceb621(declared).index(b"<Inventory>") : ceb621(declared).index(b"</Inventory>") + 12],
        b"".join(nodes),
    )
    signed = signed.replace(b"</CEB621Message>", SIGNATURE.xml().encode() + b"\n</CEB621Message>")
    receipt = ceb622("official", 120, at(1), pre=declared.pre, root_guid="4CDE1CFD-EDED-46B1-946C-B8022E42FC94")
    node = receipt[receipt.index(b"<InventoryReturn>") : receipt.index(b"</InventoryReturn>") + 18]
    receipts = receipt.replace(node, node * 10)
    results = await ingest_all(ingestor(db, vault, quarantine), [signed, receipts])
    assert [r.status for r in results] == [ACCEPTED, ACCEPTED]  # same root guid, another type
    async with db.read() as s:
        lists = {i.order_no: (i.draft, i.status) for i in (await s.execute(select(Inventory))).scalars()}
    assert lists == {declared.order: (False, 120), draft.order: (True, None)}


# -- duplicates ------------------------------------------------------------------------------------


async def test_duplicate_only_when_same_type_and_guid_or_same_bytes(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    ing = ingestor(db, vault, quarantine)
    shared = "CEB621_HNZB_FXJK_20260302093000_0099"
    lst = ceb621(ListSpec("dup-types", BUYER, guid=shared))
    receipt = ceb622("dup-types", 800, at(1), pre=ListSpec("dup-types", BUYER).pre, root_guid=shared.lower())
    assert [r.status for r in await ingest_all(ing, [lst, receipt])] == [ACCEPTED, ACCEPTED]
    assert (await ing.ingest(lst)).status == DUPLICATE  # the same bytes
    other_receipt = ceb622("dup-types-2", 899, at(2), pre=ListSpec("dup-types", BUYER).pre, root_guid=shared)
    assert (await ing.ingest(other_receipt)).status == DUPLICATE  # same type and guid (any case)
    assert (await the_list(db)).status == 800


async def test_a_different_receipt_under_stored_keys_is_refused_not_dropped(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    ing = ingestor(db, vault, quarantine)
    spec = ListSpec("same-keys", BUYER)
    await ingest_all(ing, [ceb621(spec), ceb622("sk", 800, at(1), pre=spec.pre, guid=uid("node"))])
    before = await table_checksums(db)
    copy = ceb622("sk-resent", 800, at(1), pre=spec.pre, guid=uid("node"))  # other envelope, same receipt
    assert (await ing.ingest(copy)).status == ACCEPTED
    other = ceb622("sk-other", 800, at(1), pre=spec.pre, guid=uid("node"), info="[Code:2600;Desc:放行]其它")
    result = await ing.ingest(other)
    assert result.status == REJECTED
    assert result.reason == "CEB622: another receipt with the same guid, status and time is stored"
    assert (await table_checksums(db))["inventories"] == before["inventories"]


# -- receipts that ask the buyer to act, and status pushes ------------------------------------------



@pytest.mark.parametrize(
    ("status", "info", "kind"),
    [
        (600, VERIFY_INFO, NoticeKind.VERIFY),
        (600, "挂起", NoticeKind.VERIFY),
        (100, OVER_LIMIT_INFO, NoticeKind.OVER_LIMIT),
        (100, PHONE_INFO, NoticeKind.MISMATCH),
        (100, "订购人姓名或身份证信息不一致", NoticeKind.MISMATCH),
        (100, "[Code:1322;Desc:订单清单表体商品项不一致]", NoticeKind.LIST_STATUS),
        (700, "[Code:2700;Desc:退运]", NoticeKind.LIST_STATUS),
        (800, "[Code:2600;Desc:放行]", NoticeKind.LIST_STATUS),
        (120, "[Code:1800;Desc:逻辑校验通过]", None),
        (-621041, "短时间内不能重复新增申报操作", None),
    ],
)
async def test_receipt_notices(
    db: Database, vault: Vault, quarantine: Quarantine, status: int, info: str, kind: str | None
) -> None:
    await bound(db, vault)
    spec = ListSpec("act", BUYER)
    receipt = ceb622("act", status, at(1), pre=spec.pre, info=info)
    await ingest_all(ingestor(db, vault, quarantine), [ceb621(spec), receipt])
    assert [k for k, _ in await outbox_events(db)] == ([kind] if kind else [])


async def test_switched_off_action_falls_back_to_the_status_push(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    await bound(db, vault, notify_over_limit=False)
    spec = ListSpec("act-off", BUYER)
    await ingest_all(
        ingestor(db, vault, quarantine), [ceb621(spec), ceb622("a", 100, at(1), pre=spec.pre, info=OVER_LIMIT_INFO)]
    )
    assert [k for k, _ in await outbox_events(db)] == [NoticeKind.LIST_STATUS]


async def test_status_pushes_switched_off(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    await bound(db, vault, notify_list_status=False)
    spec = ListSpec("quiet", BUYER)
    await ingest_all(ingestor(db, vault, quarantine), [ceb621(spec), ceb622("q", 800, at(1), pre=spec.pre)])
    assert await outbox_events(db) == []


async def test_a_burst_of_receipts_gives_one_notice(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    await bound(db, vault)
    spec = ListSpec("burst", BUYER)
    burst = [ceb622(f"b{s}", s, at(1, 100 * i), pre=spec.pre) for i, s in enumerate((2, 120, 399, 800, 899))]
    await ingest_all(ingestor(db, vault, quarantine), [ceb621(spec), *burst])
    inv = await the_list(db)
    assert await outbox_events(db) == [(NoticeKind.LIST_STATUS, f"status:{inv.id}:released:1")]


async def test_a_new_suspension_is_a_new_notice(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    await bound(db, vault)
    spec = ListSpec("again", BUYER)
    msgs = [ceb621(spec), ceb622("s1", 600, at(1), pre=spec.pre, info=VERIFY_INFO)]
    msgs += [ceb622("s2", 120, at(2), pre=spec.pre), ceb622("s3", 600, at(3), pre=spec.pre, info=VERIFY_INFO)]
    await ingest_all(ingestor(db, vault, quarantine), msgs)
    assert [k for k, _ in await outbox_events(db)] == [NoticeKind.VERIFY, NoticeKind.VERIFY]
    async with db.read() as s:
        payloads = [o.payload for o in (await s.execute(select(Outbox).order_by(Outbox.id))).scalars()]
    assert [p["status"] for p in payloads] == [600, 600]


# -- hostile variants change nothing ---------------------------------------------------------------


def _hostile() -> dict[str, tuple[bytes, str]]:
    spec = ListSpec("hostile", BUYER, signed=True)
    good = ceb621(spec)
    external = cebxml.Signature(b"d", b"v", b"c", reference="http://127.0.0.1:9/evil.xml")
    retrieval = SIGNATURE.xml().replace(
        "<ds:KeyInfo>", '<ds:KeyInfo><ds:RetrievalMethod URI="file:///etc/passwd"></ds:RetrievalMethod>'
    )
    huge = cebxml.Signature(b"d", b"v" * 6_000_000, b"c")
    many = SIGNATURE.xml().replace("</ds:KeyInfo>", "<ds:KeyName>k</ds:KeyName>" * 500 + "</ds:KeyInfo>")
    gb_declared = good.replace(b'encoding="UTF-8"', b'encoding="GB2312"')
    return {
        "external reference": (
            good.replace(SIGNATURE.xml().encode(), external.xml().encode()),
            "XML signature refers to something outside the message",
        ),
        "retrieval method": (good.replace(SIGNATURE.xml().encode(), retrieval.encode()), "outside the message"),
        "huge signature": (good.replace(SIGNATURE.xml().encode(), huge.xml().encode()), "XML signature larger than"),
        "many signature elements": (good.replace(SIGNATURE.xml().encode(), many.encode()), "more than 200 elements"),
        "two signatures": (
            good.replace(b"</CEB621Message>", SIGNATURE.xml().encode() + b"</CEB621Message>"),
            "more than one XML signature",
        ),
        "signature inside a node": (
            good.replace(b"</InventoryHead>", SIGNATURE.xml().encode() + b"</InventoryHead>"),
            "must be a direct child of the message root",
        ),
        "wrong encoding declaration": (gb_declared, "GB2312 declared but the text is UTF-8"),
        "undeclared GBK": (good.decode().replace('encoding="UTF-8"', "").encode("gbk"), "not valid UTF-8"),
    }


@pytest.mark.parametrize("case", list(_hostile()))
async def test_hostile_variants_are_refused_fast_and_change_nothing(
    db: Database, vault: Vault, quarantine: Quarantine, case: str
) -> None:
    await bound(db, vault)
    ing: Ingestor = ingestor(db, vault, quarantine)
    await ingest_all(ing, cancel_life().values())
    before = await table_checksums(db)
    data, fragment = _hostile()[case]
    assert len(data) < 10 * 1024 * 1024
    with cpu_time() as cpu:  # the parsing runs on this thread
        result = await ing.ingest(data, name="hostile.xml")
    assert cpu.seconds < 1.0
    assert result.status == REJECTED
    assert fragment in (result.reason or ""), result.reason
    assert await table_checksums(db) == before
    assert result.quarantined is not None


async def test_consumption_details_show_what_still_counts(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    await bound(db, vault)
    await ingest_all(ingestor(db, vault, quarantine), return_life().values())
    identity = vault.identity_index("1", BUYER.id_number)
    async with db.read() as s:
        (row,) = (await queries.counted_lists(s, identity, 2026, 0)).items
        (listed,) = (await queries.clearance_lists(s, identity, ListFilter(), 0)).items
    assert (row.total, row.returned) == (Decimal("306.00"), True)  # 510 less the 204 that went back
    assert listed.total == Decimal("510.00")  # the list itself, as declared


async def test_a_receipt_never_links_by_guid(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    """The customs' samples give two lists and their receipts one guid: receipts link by their
    numbers (E-port makes its own guid), so the one that names neither list waits, unlinked, and the
    one that names a list by preNo joins that list only."""
    shared = "4CDE1CFD-EDED-46B1-946C-B8022E42FC94"
    first = ListSpec("same-guid-1", BUYER, guid=shared, root_guid=uid("root-1"))
    second = ListSpec("same-guid-2", BUYER, guid=shared, root_guid=uid("root-2"))
    nobody = ceb622("nobody", 1, at(1), pre="B20160512000001882", cop_no="cop2016032211000", guid=shared)
    named = ceb622("named", 800, at(2), pre=second.pre, guid=shared)
    results = await ingest_all(ingestor(db, vault, quarantine), [ceb621(first), ceb621(second), nobody, named])
    assert [r.status for r in results] == [ACCEPTED] * 4, [r.reason for r in results]
    async with db.read() as s:
        statuses = {i.order_no: i.status for i in (await s.execute(select(Inventory))).scalars()}
    assert statuses == {first.order: None, second.order: 800}
