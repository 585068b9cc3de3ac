"""bot.demo: deterministic, parseable, realistic demo data whose summary is true."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

from bot import demo
from bot.domain import cbec
from bot.domain.identity import check_id_number, normalize_phone
from storage.ceb import (
    CANCEL,
    Inventory,
    InventoryReturn,
    ListRequest,
    RequestReturn,
    TaxSlip,
    TaxStatus,
    parse_message,
)

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)


TODAY = demo.DEFAULT_TODAY


@dataclass
class Feed:
    """The generated files, parsed and joined the way ingest is told to join them."""

    root: Path
    summary: demo.DemoSummary
    names: list[str]  # sorted file names = arrival order
    lists: dict[str, Inventory] = field(default_factory=dict)  # by preNo
    list_file: dict[str, str] = field(default_factory=dict)  # preNo → file name
    receipts: dict[str, list[tuple[InventoryReturn, str]]] = field(default_factory=dict)  # preNo → [(r, file)]
    slips: dict[str, TaxSlip] = field(default_factory=dict)  # by invtNo
    statuses: dict[str, list[TaxStatus]] = field(default_factory=dict)  # by invtNo
    guids: list[str] = field(default_factory=list)
    accounts: list[dict[str, str]] = field(default_factory=list)
    requests: dict[str, list[ListRequest]] = field(default_factory=dict)  # the list's invtNo → requests
    answers: dict[str, list[RequestReturn]] = field(default_factory=dict)  # the list's invtNo → receipts
    signed: int = 0  # declarations (CEB621/623/625) carrying an enveloped ds:Signature

    def final_status(self, pre_no: str) -> int | None:
        receipts = self.receipts.get(pre_no, [])
        return max(receipts, key=lambda rf: rf[0].return_time)[0].return_status if receipts else None


def load(root: Path, summary: demo.DemoSummary) -> Feed:
    names = sorted(p.name for p in (root / "ceb").iterdir())
    feed = Feed(root, summary, names)
    for name in names:
        data = (root / "ceb" / name).read_bytes()
        msg = parse_message(data)
        feed.guids.append(msg.guid)
        feed.signed += b"<ds:Signature " in data
        for item in msg.items:
            if isinstance(item, Inventory):
                assert item.pre_no not in feed.lists
                feed.lists[item.pre_no] = item
                feed.list_file[item.pre_no] = name
            elif isinstance(item, InventoryReturn):
                feed.receipts.setdefault(item.pre_no, []).append((item, name))
            elif isinstance(item, TaxSlip):
                assert item.invt_no not in feed.slips
                feed.slips[item.invt_no] = item
            elif isinstance(item, TaxStatus):
                feed.statuses.setdefault(item.invt_no, []).append(item)
            elif isinstance(item, ListRequest):
                feed.requests.setdefault(item.invt_no, []).append(item)
            elif isinstance(item, RequestReturn):
                feed.answers.setdefault(item.invt_no, []).append(item)
    with (root / "accounts.csv").open(encoding="utf-8", newline="") as f:
        feed.accounts = list(csv.DictReader(f))
    return feed


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Feed:
    root = tmp_path_factory.mktemp("demo")
    return load(root, demo.generate(root))


def by_invt_no(feed: Feed) -> dict[str, Inventory]:
    return {inv.invt_no: inv for inv in feed.lists.values() if inv.invt_no}


# --------------------------------------------------------------------------- determinism


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first = demo.generate(tmp_path / "a", consumers=6, seed=7)
    second = demo.generate(tmp_path / "b", consumers=6, seed=7)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert first == second


def test_other_seed_other_bytes(tmp_path: Path) -> None:
    demo.generate(tmp_path / "a", consumers=6, seed=7)
    demo.generate(tmp_path / "b", consumers=6, seed=8)
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert a["accounts.csv"] != b["accounts.csv"]
    assert set(a) != set(b) or a != b


def test_rerun_replaces_previous_output(tmp_path: Path) -> None:
    demo.generate(tmp_path, consumers=6, seed=1)
    (tmp_path / "ceb" / "mine.xml").write_text("not ours")
    summary = demo.generate(tmp_path, consumers=3, seed=2)
    names = [p.name for p in (tmp_path / "ceb").iterdir()]
    assert len(names) == summary.files + 1  # the old run's files are gone, foreign files stay
    assert "mine.xml" in names


def test_default_today_is_fixed(tmp_path: Path) -> None:
    assert demo.generate(tmp_path / "a", consumers=3).today == date(2026, 11, 20)
    assert demo.generate(tmp_path / "b", consumers=3, today=date(2024, 3, 1)).today == date(2024, 3, 1)


def test_consumers_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        demo.generate(tmp_path, consumers=0)


# --------------------------------------------------------------------------- counts and parsing


def test_summary_counts_match_files(feed: Feed) -> None:
    s = feed.summary
    assert s.files == len(feed.names) == len(feed.guids)
    assert s.lists == len(feed.lists)
    assert s.receipts == sum(len(v) for v in feed.receipts.values())
    assert s.tax_slips == len(feed.slips)
    assert s.tax_statuses == sum(len(v) for v in feed.statuses.values())
    assert s.accounts == len(feed.accounts) == 20


def test_file_names_and_unique_guids(feed: Feed) -> None:
    for name in feed.names:
        assert re.fullmatch(r"\d{14}_CEB(62[1-6]|816|818)_\d{5}\.xml", name), name
        assert datetime.strptime(name[:14], "%Y%m%d%H%M%S") <= datetime.combine(TODAY, time.max)
    assert len(set(feed.guids)) == len(feed.guids)


def test_every_list_is_uniquely_keyed(feed: Feed) -> None:
    keys = [(inv.ebc_code, inv.order_no) for inv in feed.lists.values()]
    assert len(set(keys)) == len(keys)
    assert all(inv.cop_no and inv.pre_no for inv in feed.lists.values())
    invt = [inv.invt_no for inv in feed.lists.values() if inv.invt_no]
    assert len(set(invt)) == len(invt)


def test_receipts_and_slips_link_to_lists(feed: Feed) -> None:
    assert set(feed.receipts) <= set(feed.lists)
    for pre_no, receipts in feed.receipts.items():
        inv = feed.lists[pre_no]
        for r, _ in receipts:
            assert (r.cop_no, r.ebc_code) == (inv.cop_no, inv.ebc_code)
            # invtNo from customs' first answer on, and then the list's own
            assert r.invt_no == (inv.invt_no if r.return_status >= 100 else None)
    invt = by_invt_no(feed)
    assert set(feed.slips) <= set(invt)
    assert set(feed.statuses) <= set(feed.slips)


# --------------------------------------------------------------------------- accounts


def test_accounts_csv(feed: Feed) -> None:
    raw = (feed.root / "accounts.csv").read_bytes()
    assert raw.startswith(b"account_id,name,id_type,id_number,phone\n")
    assert not raw.startswith(b"\xef\xbb\xbf")
    ids = [a["account_id"] for a in feed.accounts]
    assert len(set(ids)) == len(ids)
    styles = set()
    for a in feed.accounts:
        assert re.fullmatch(r"SW\d{10}", a["account_id"])
        assert a["id_type"] == "1"
        assert check_id_number(a["id_number"], today=TODAY)
        birth = date(int(a["id_number"][6:10]), int(a["id_number"][10:12]), int(a["id_number"][12:14]))
        assert 18 <= (TODAY - birth).days // 365 <= 70  # adults
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,4}", a["name"])
        assert re.fullmatch(r"1[3-9]\d{9}", normalize_phone(a["phone"]))
        styles.add(re.sub(r"\d", "9", a["phone"]))
    assert len(styles) >= 4  # mixed phone formats
    assert any(a["name"][:2] in ("欧阳", "司马", "上官", "诸葛", "慕容") for a in feed.accounts)
    assert any(a["id_number"].endswith("x") for a in feed.accounts)  # lowercase check char


def test_expectations_agree_with_csv(feed: Feed) -> None:
    rows = {a["account_id"]: a for a in feed.accounts}
    for e in feed.summary.expectations:
        row = rows[e.account_id]
        assert (row["name"], check_id_number(row["id_number"], TODAY)) == (e.name, e.id_number)
        assert normalize_phone(row["phone"]) == e.phone


def test_idle_accounts_and_orphans(feed: Feed) -> None:
    account_ids = {check_id_number(a["id_number"], TODAY) for a in feed.accounts}
    buyers = defaultdict(int)
    for inv in feed.lists.values():
        buyers[inv.buyer_id_number] += 1
    idle = [a for a in feed.accounts if check_id_number(a["id_number"], TODAY) not in buyers]
    assert 1 <= len(idle) <= 2
    orphans = {n: c for n, c in buyers.items() if n not in account_ids}
    assert len(orphans) >= 2
    assert sum(orphans.values()) == feed.summary.orphan_lists >= 3


# --------------------------------------------------------------------------- statuses and time


def test_every_status_is_a_final_status(feed: Feed) -> None:
    finals = {feed.final_status(pre_no) for pre_no in feed.lists}
    assert set(demo.REQUIRED_STATUSES) <= finals
    assert any(s is not None and s < 0 for s in finals)


def test_realistic_receipt_chain(feed: Feed) -> None:
    chains = {
        tuple(r.return_status for r, _ in sorted(rs, key=lambda rf: rf[0].return_time)) for rs in feed.receipts.values()
    }
    assert any(c[-4:] == (120, 399, 800, 899) for c in chains)
    for chain in chains:
        if 899 in chain:
            assert chain.index(800) < chain.index(899)
        if 800 in chain:
            assert 399 in chain and chain.index(399) < chain.index(800)


def test_dates_span_four_years_and_never_pass_today(feed: Feed) -> None:
    end = datetime.combine(TODAY, time.max)
    years = {inv.decl_date.year for inv in feed.lists.values()}
    assert years == {TODAY.year - 3, TODAY.year - 2, TODAY.year - 1, TODAY.year}
    for inv in feed.lists.values():
        assert inv.decl_date <= TODAY and inv.app_time <= end
        assert inv.decl_date == inv.app_time.date()
    for receipts in feed.receipts.values():
        for r, _ in receipts:
            assert r.return_time <= end
    for slip in feed.slips.values():
        assert slip.return_time <= end
    for statuses in feed.statuses.values():
        assert all(s.return_time <= end for s in statuses)


def test_receipts_follow_their_list_in_time(feed: Feed) -> None:
    for pre_no, receipts in feed.receipts.items():
        assert all(r.return_time > feed.lists[pre_no].app_time for r, _ in receipts)


def test_out_of_order_arrival(feed: Feed) -> None:
    early = [
        pre_no
        for pre_no, receipts in feed.receipts.items()
        if any(name < feed.list_file[pre_no] for _, name in receipts)
    ]
    assert len(early) >= 2  # receipts that arrive before their list
    swapped = 0
    for receipts in feed.receipts.values():
        by_time = sorted(receipts, key=lambda rf: rf[0].return_time)
        by_file = sorted(receipts, key=lambda rf: rf[1])
        swapped += by_time != by_file
    assert swapped >= 1  # an older receipt arrives after a newer one
    invt_file = {inv.invt_no: feed.list_file[p] for p, inv in feed.lists.items() if inv.invt_no}
    slip_file = {}
    for name in feed.names:
        if "_CEB816_" in name:
            slip = parse_message((feed.root / "ceb" / name).read_bytes()).items[0]
            slip_file[slip.invt_no] = name
    assert any(slip_file[n] < invt_file[n] for n in slip_file)  # a tax slip before its list


def test_file_order_otherwise_follows_time(feed: Feed) -> None:
    # For most lists the list file comes first: the exceptions are deliberate and few.
    late = sum(1 for pre_no, rs in feed.receipts.items() if any(name < feed.list_file[pre_no] for _, name in rs))
    assert late <= 5


# --------------------------------------------------------------------------- taxes


def check_taxes(feed: Feed) -> tuple[int, int, set[Decimal]]:
    """Recompute every tax line with cbec.line_tax; return (cosmetic lines with consumption tax,
    full-tax slips, VAT rates used)."""
    lists = by_invt_no(feed)
    vat_rates = set()
    consumption_lines = full_tax = 0
    for invt_no, slip in feed.slips.items():
        inv = lists[invt_no]
        assert slip.tax_no == invt_no + "_0"
        assert slip.status == cbec.TAX_GENERATED and slip.ent_duty_no is None
        assert (slip.order_no, slip.ebc_code) == (inv.order_no, inv.ebc_code)
        assert [t.gnum for t in slip.lines] == [line.gnum for line in inv.lines]
        # taxPrice: goods plus a share of freight and insurance, adding up to the dutiable value
        value = cbec.dutiable_value([line.total_price for line in inv.lines], inv.freight, inv.insured_fee)
        assert sum(t.tax_price for t in slip.lines) == value
        within = not (len(inv.lines) == 1 and inv.lines[0].qty == 1 and value > cbec.single_limit(inv.decl_date))
        full_tax += not within
        for t, line in zip(slip.lines, inv.lines, strict=True):
            assert t.gcode == line.gcode
            assert t.tax_price >= line.total_price
            product = demo.product_named(line.gname)
            vat_rates.add(cbec.vat_rate_on(inv.decl_date))
            expected = cbec.line_tax(
                t.tax_price,
                tariff_rate=product.tariff,
                consumption_rate=product.consumption,
                vat_rate=cbec.vat_rate_on(inv.decl_date),
                within_limits=within,
            )
            assert (t.customs_tax, t.consumption_tax, t.value_added_tax) == (
                expected.customs,
                expected.consumption,
                expected.vat,
            )
            consumption_lines += t.consumption_tax > 0 and product.kind == "cosmetic"
        assert slip.customs_tax == sum(t.customs_tax for t in slip.lines)
        assert slip.value_added_tax == sum(t.value_added_tax for t in slip.lines)
        assert slip.consumption_tax == sum(t.consumption_tax for t in slip.lines)
    return consumption_lines, full_tax, vat_rates


def test_tax_slips_recompute_with_line_tax(feed: Feed) -> None:
    consumption_lines, full_tax, _ = check_taxes(feed)
    assert consumption_lines >= 3
    assert full_tax >= 1


def test_cosmetics_consumption_tax_threshold() -> None:
    for p in demo.PRODUCTS:
        if p.kind != "cosmetic":
            continue
        size = Decimal(re.match(r"([\d.]+)(ml|g)", p.gmodel).group(1))
        per_unit_low, per_unit_high = Decimal(p.low) / size, Decimal(p.high + 1) / size
        if p.consumption:
            assert per_unit_low >= 10  # high-end: ≥ 10 元 per ml or g at every possible price
        else:
            assert per_unit_high < 10


def test_single_item_over_5000_taxed_in_full_and_counted(feed: Feed) -> None:
    lists = by_invt_no(feed)
    hits = []
    for invt_no, slip in feed.slips.items():
        inv = lists[invt_no]
        if len(inv.lines) == 1 and inv.lines[0].qty == 1 and inv.lines[0].total_price > 5000:
            hits.append((inv, slip))
    assert hits
    inv, slip = hits[0]
    assert slip.customs_tax > 0
    pre_no = inv.pre_no
    assert cbec.is_counted(feed.final_status(pre_no))


def test_tax_slips_only_for_assessed_lists(feed: Feed) -> None:
    lists = by_invt_no(feed)
    for invt_no in feed.slips:
        statuses = [r.return_status for r, _ in feed.receipts[lists[invt_no].pre_no]]
        assert 399 in statuses
    for pre_no, receipts in feed.receipts.items():
        if any(r.return_status == 399 for r, _ in receipts):
            assert feed.lists[pre_no].invt_no in feed.slips


def test_void_and_summarised_slips(feed: Feed) -> None:
    all_statuses = [s for v in feed.statuses.values() for s in v]
    summarised = [s for s in all_statuses if s.status == cbec.TAX_SUMMARISED]
    void = [s for s in all_statuses if s.status == cbec.TAX_VOID]
    assert summarised and void
    assert all(s.ent_duty_no and re.fullmatch(r"\d{18}", s.ent_duty_no) for s in summarised)
    assert all(s.ent_duty_no is None for s in void)
    for s in all_statuses:
        assert s.tax_no == s.invt_no + "_0"
        assert s.return_time > feed.slips[s.invt_no].return_time
    lists = by_invt_no(feed)
    assert any(feed.final_status(lists[s.invt_no].pre_no) == 700 for s in void)


# --------------------------------------------------------------------------- realism


def test_reference_data_in_use(feed: Feed) -> None:
    invs = list(feed.lists.values())
    assert {"天猫国际", "京东国际", "考拉海购", "抖音全球购", "唯品会"} <= {i.ebp_name for i in invs}
    assert {"9610", "1210"} <= {i.trade_mode for i in invs}
    assert len({i.customs_code for i in invs}) >= 4
    lines = [line for i in invs for line in i.lines]
    gcodes = {line.gcode for line in lines}
    assert {"3304990099", "1901101000", "2106909090", "4202210090", "2204210000", "9102110000"} <= gcodes
    assert {"116", "133", "502", "304", "601", "305"} <= {line.country for line in lines}
    assert {"142", "140", "122", "007"} <= {line.unit for line in lines}
    assert {line.currency for line in lines} | {i.currency for i in invs} == {"142"}
    for i in invs:
        assert i.pre_no[1:9] == f"{i.decl_date:%Y%m%d}"
        if i.invt_no:
            assert i.invt_no[:4] == i.customs_code and i.invt_no[4:8] == str(i.decl_date.year)
        for line in i.lines:
            assert line.total_price == line.price * line.qty


def test_special_lists(feed: Feed) -> None:
    invs = list(feed.lists.values())
    assert any(line.gname == 'Tom & Jerry <Limited> "Gift" Set' for i in invs for line in i.lines)
    assert max(len(i.lines) for i in invs) >= 40
    raw = b"".join((feed.root / "ceb" / n).read_bytes() for n in feed.names if "_CEB621_" in n)
    assert b"Tom &amp; Jerry &lt;Limited&gt;" in raw
    multi = [
        n for n in feed.names if "_CEB621_" in n and len(parse_message((feed.root / "ceb" / n).read_bytes()).items) > 1
    ]
    assert multi  # one message carries two lists


def test_suspicious_declarations(feed: Feed) -> None:
    accounts = {check_id_number(a["id_number"], TODAY): a for a in feed.accounts}
    per_person: dict[str, list[Inventory]] = defaultdict(list)
    for inv in feed.lists.values():
        per_person[inv.buyer_id_number].append(inv)
    other_phone = other_platform = 0
    for number, invs in per_person.items():
        if number not in accounts:
            continue
        phone = normalize_phone(accounts[number]["phone"])
        platforms = [i.ebp_name for i in invs]
        for inv in invs:
            differs = normalize_phone(inv.buyer_telephone) != phone
            other_phone += differs
            other_platform += differs and platforms.count(inv.ebp_name) == 1  # one-off, stranger's phone
    assert other_phone >= 3
    assert other_platform >= 1
    assert sum(e.suspicious for e in feed.summary.expectations) == other_phone


def test_buyer_phones_in_mixed_formats_normalise(feed: Feed) -> None:
    phones = [inv.buyer_telephone for inv in feed.lists.values()]
    assert all(re.fullmatch(r"1[3-9]\d{9}", normalize_phone(p)) for p in phones)
    assert sum(p != normalize_phone(p) for p in phones) >= 5  # "+86…" and "86…" spellings
    assert sum(p == normalize_phone(p) for p in phones) > len(phones) // 2


# --------------------------------------------------------------------------- expectations


def _approved(feed: Feed, inv: Inventory, kind: str) -> list[ListRequest]:
    answers = [a for a in feed.answers.get(inv.invt_no, []) if a.kind == kind]
    newest = max(answers, key=lambda a: a.return_time, default=None)
    if newest is None or newest.return_status != 399:
        return []
    return [r for r in feed.requests.get(inv.invt_no, []) if r.kind == kind]


def _counted_value(feed: Feed, inv: Inventory) -> Decimal | None:
    """What the list counts toward its year (None: it does not count), recounted from the files."""
    if not cbec.is_counted(feed.final_status(inv.pre_no)) or _approved(feed, inv, CANCEL):
        return None
    value = inv.freight + inv.insured_fee + sum(line.total_price for line in inv.lines)
    back = {ln.gnum: ln.qty for r in _approved(feed, inv, "refund") for ln in r.lines}
    if not back:
        return value
    goods = sum(line.total_price for line in inv.lines)
    returned_goods = sum(line.total_price * back.get(line.gnum, 0) / line.qty for line in inv.lines)
    if returned_goods == goods:
        return None  # all of it went back
    return value - cbec.round_fen(value * returned_goods / goods)


def test_expectations_match_an_independent_recount(feed: Feed) -> None:
    years = range(TODAY.year - 3, TODAY.year + 1)
    lists = by_invt_no(feed)
    for e in feed.summary.expectations:
        own = [inv for inv in feed.lists.values() if inv.buyer_id_number == e.id_number]
        assert e.lists == len(own)
        counted = [(inv, v) for inv in own if (v := _counted_value(feed, inv)) is not None]
        for year in years:
            values = [v for inv, v in counted if inv.decl_date.year == year]
            assert e.counted[year] == len(values)
            assert e.consumed[year] == cbec.round_fen(sum(values, Decimal(0)))
        assert e.tax_slips == sum(1 for n, slip in feed.slips.items() if lists[n].buyer_id_number == e.id_number)
    assert any(e.lists for e in feed.summary.expectations)


def test_annual_limit_respected_for_regular_shopping(feed: Feed) -> None:
    over_limit = [
        r
        for rs in feed.receipts.values()
        for r, _ in rs
        if r.return_status == 100 and (r.return_info or "").startswith("[Code:1313;")
    ]
    assert over_limit  # the heavy buyer hits the limit and is refused, with the year's total
    assert all(re.search(r"totalPrice：[\d,]+\.\d\d > limitPrice: 2[06],000;", r.return_info or "") for r in over_limit)
    # consumption per year stays within the limit apart from deliberate scenario lists
    for e in feed.summary.expectations:
        for year, consumed in e.consumed.items():
            assert consumed <= cbec.annual_limit(year) + 10_000


@pytest.mark.parametrize("consumers", [1, 2, 3, 8])
def test_small_data_sets_still_cover_everything(tmp_path: Path, consumers: int) -> None:
    summary = demo.generate(tmp_path, consumers=consumers, seed=consumers)
    small = load(tmp_path, summary)
    finals = {small.final_status(p) for p in small.lists}
    assert set(demo.REQUIRED_STATUSES) <= finals
    assert summary.accounts == consumers
    assert any(s.status == cbec.TAX_VOID for v in small.statuses.values() for s in v)
    assert any(s.status == cbec.TAX_SUMMARISED for v in small.statuses.values() for s in v)
    idle = sum(1 for e in summary.expectations if e.lists == 0)
    assert idle == (0 if consumers < 3 else 1 if consumers < 8 else 2)


def test_other_today(tmp_path: Path) -> None:
    today = date(2019, 2, 10)
    summary = demo.generate(tmp_path, consumers=4, today=today)
    small = load(tmp_path, summary)
    years = {inv.decl_date.year for inv in small.lists.values()}
    assert years == {2016, 2017, 2018, 2019}
    assert all(cbec.CBEC_START <= inv.decl_date <= today for inv in small.lists.values())
    _, full_tax, vat_rates = check_taxes(small)  # 17 %, 16 % and 13 % periods, 2,000 single limit
    assert full_tax >= 1
    assert {Decimal("0.17"), Decimal("0.16")} <= vat_rates
    raw = b"".join((tmp_path / "ceb" / n).read_bytes() for n in small.names if "_CEB621_" in n)
    assert b"xmldsig#rsa-sha1" in raw and b"sm2" not in raw  # signed as the 2018 rules had it


# --------------------------------------------------------------------------- real customs messages


def test_declarations_are_signed_and_some_guids_are_real_style(feed: Feed) -> None:
    declarations = [n for n in feed.names if re.search(r"_CEB62[135]_", n)]
    assert feed.signed == len(declarations)
    real_style = [g for g in feed.guids if re.fullmatch(r"ceb62[135]_[a-z]{2}\d{2}_\w{4}_\d{14}_\d{4}", g)]
    assert len(real_style) >= 10 and all(len(g) == 36 for g in real_style)
    raw = b"".join((feed.root / "ceb" / n).read_bytes() for n in declarations)
    assert b"xmldsig#sm2-sm3" in raw and b"xmldsig#rsa-sha1" not in raw  # 202205 rules (lists before 2022: RSA)


def test_a_cancellation_and_a_return(feed: Feed) -> None:
    lists = by_invt_no(feed)
    cancelled = [lists[n] for n in feed.requests if _approved(feed, lists[n], CANCEL)]
    returned = [lists[n] for n in feed.requests if _approved(feed, lists[n], "refund")]
    assert cancelled and returned
    for inv in cancelled:
        assert cbec.is_counted(feed.final_status(inv.pre_no))  # it counted, and gives its value back
        assert any(s.status == cbec.TAX_VOID for s in feed.statuses[inv.invt_no])
    for inv in returned:
        assert _counted_value(feed, inv) is not None  # a part went back; the rest still counts
    assert feed.summary.requests == 2 and feed.summary.request_receipts == 4


def test_a_verify_suspension_with_time_left(feed: Feed) -> None:
    receipts = [r for rs in feed.receipts.values() for r, _ in rs]
    suspended = [r for r in receipts if r.return_status == 600 and "交易真实性验核" in (r.return_info or "")]
    assert suspended
    assert all(0 < (r.return_time.date() - TODAY).days + 15 <= 15 for r in suspended)  # the countdown runs
