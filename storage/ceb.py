"""Parse China Customs cross-border e-commerce (CEB) messages: bytes in, frozen dataclasses out.

Supported (namespace ``http://www.chinaport.gov.cn/ceb``, see reference/domain.md §2):

* CEB621 import list      ``CEB621Message/Inventory{InventoryHead, InventoryList+}+``  → ``Inventory``
* CEB622 list receipt     ``CEB622Message/InventoryReturn+``                            → ``InventoryReturn``
* CEB816 tax slip         ``CEB816Message/Tax{TaxHeadRd, TaxListRd+}+``                → ``TaxSlip``
* CEB818 tax-slip status  ``CEB818Message/Tax{TaxHeadStatus}+``                        → ``TaxStatus``

Anything else is rejected with ``CebRejected``. The module is pure (no I/O, no database) and imports
only the standard library, defusedxml and ``bot.domain``.

Decisions callers rely on:

* **Safety.** The size cap is checked before parsing. The XML goes through defusedxml's parser with
  DTDs, entity declarations and external references forbidden, fed in chunks into a tree builder
  that stops as soon as the nesting depth or the element count passes its cap, so no hostile
  document can make us build an unbounded tree.
* **Encoding.** UTF-8 only, with or without a BOM. A UTF-16/32 BOM, or an XML declaration naming
  another encoding (GBK, ISO-8859-1, …), is rejected: the CEB feeds are UTF-8, and accepting legacy
  codecs only widens the attack surface. NUL bytes are rejected outright.
* **Reasons.** ``CebRejected.reason`` is short, human and never echoes a field's value, so it can
  never carry an ID number, name, phone or address; it names the message, node and field.
* **Times.** All dates and times in CEB messages are China local time (UTC+8) without a zone; they
  are returned as *naive* ``datetime``/``date`` objects in that local time.
* **Identifiers.** GUIDs (root and nodes) must look like UUIDs and are returned lowercased.
  preNo ``B`` + yyyyMMdd (a real date) + 9 digits; invtNo 4-digit customs code + 4-digit year +
  I/E + 9 digits. Both are returned as given.
* **Numbers.** Amounts and quantities are plain non-negative decimals as in decimal(19,5): at most
  14 integer digits and 5 decimals, no sign, exponent, NaN or non-ASCII digits.
* **Text.** Each field's text is stripped; an empty optional field becomes ``None``; an empty
  required field is "missing". Unknown child elements of a known node are ignored (newer spec
  versions add fields); unknown nodes directly under the root are rejected. A known field given
  twice, or holding elements instead of text, is rejected.
* **Cross-message links** are not checked here (ingest does that): a receipt names its list by
  preNo, invtNo or copNo (+ ebcCode); a tax slip and a tax-slip status by invtNo and taxNo.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar
from xml.etree.ElementTree import Element, TreeBuilder

from defusedxml.ElementTree import DefusedXMLParser

from bot.domain.identity import InvalidIdNumber, check_id_number

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "NAMESPACE",
    "CebMessage",
    "CebRejected",
    "Inventory",
    "InventoryLine",
    "InventoryReturn",
    "TaxLine",
    "TaxSlip",
    "TaxStatus",
    "parse_message",
]

NAMESPACE = "http://www.chinaport.gov.cn/ceb"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# A CEB message is 4 levels deep; 32 leaves room for extensions while stopping nesting bombs.
MAX_DEPTH = 32
# ~20 elements per list line, so this allows about 2,500 lines per message: far beyond real
# messages, and it bounds the work a hostile "many siblings" document can cause.
MAX_ELEMENTS = 50_000
_CHUNK = 64 * 1024


class CebRejected(Exception):
    """The message cannot be accepted. ``reason`` is safe to log: it holds no personal data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- result objects


@dataclass(frozen=True, slots=True)
class InventoryLine:
    gnum: int
    item_no: str | None
    item_name: str | None
    gcode: str
    gname: str
    gmodel: str | None
    bar_code: str | None
    country: str
    trade_country: str | None
    currency: str
    qty: Decimal
    unit: str
    qty1: Decimal | None
    unit1: str | None
    qty2: Decimal | None
    unit2: str | None
    price: Decimal
    total_price: Decimal
    note: str | None


@dataclass(frozen=True, slots=True)
class Inventory:
    """A CEB621 import list: head plus lines. Carries the buyer's identity."""

    guid: str
    app_type: str
    app_time: datetime
    app_status: str
    order_no: str
    ebp_code: str
    ebp_name: str
    ebc_code: str
    ebc_name: str
    logistics_no: str
    logistics_code: str
    logistics_name: str
    cop_no: str | None
    pre_no: str | None
    assure_code: str
    ems_no: str | None
    invt_no: str | None
    ie_flag: str
    decl_date: date  # <declTime>
    customs_code: str
    port_code: str
    ie_date: date
    buyer_id_type: str
    buyer_id_number: str  # normalised by check_id_number when buyer_id_type == "1"
    buyer_name: str
    buyer_telephone: str
    consignee_address: str
    agent_code: str
    agent_name: str
    area_code: str | None
    area_name: str | None
    trade_mode: str
    traf_mode: str
    traf_no: str | None
    voyage_no: str | None
    bill_no: str | None
    loct_no: str | None
    license_no: str | None
    country: str
    freight: Decimal
    insured_fee: Decimal
    currency: str
    wrap_type: str | None
    pack_no: int
    gross_weight: Decimal
    net_weight: Decimal
    note: str | None
    lines: tuple[InventoryLine, ...]


@dataclass(frozen=True, slots=True)
class InventoryReturn:
    """A CEB622 list receipt. No buyer identity: it names its list by preNo, invtNo or copNo."""

    guid: str
    customs_code: str | None
    ebp_code: str | None
    ebc_code: str | None
    agent_code: str | None
    cop_no: str | None
    pre_no: str | None
    invt_no: str | None
    return_status: int
    return_time: datetime
    return_info: str | None


@dataclass(frozen=True, slots=True)
class TaxLine:
    gnum: int
    gcode: str | None
    tax_price: Decimal
    customs_tax: Decimal
    value_added_tax: Decimal
    consumption_tax: Decimal


@dataclass(frozen=True, slots=True)
class TaxSlip:
    """A CEB816 electronic tax slip (TaxHeadRd + TaxListRd)."""

    guid: str
    return_time: datetime
    invt_no: str
    tax_no: str
    customs_tax: Decimal
    value_added_tax: Decimal
    consumption_tax: Decimal
    status: int
    ent_duty_no: str | None
    note: str | None
    assure_code: str | None
    ebc_code: str | None
    logistics_code: str | None
    agent_code: str | None
    customs_code: str | None
    order_no: str | None
    logistics_no: str | None
    lines: tuple[TaxLine, ...]


@dataclass(frozen=True, slots=True)
class TaxStatus:
    """A CEB818 tax-slip status change (1 已生成, 2 已汇总, 3 作废)."""

    guid: str
    return_time: datetime
    invt_no: str
    tax_no: str
    status: int
    ent_duty_no: str | None
    assure_code: str | None


CebItem = Inventory | InventoryReturn | TaxSlip | TaxStatus


@dataclass(frozen=True, slots=True)
class CebMessage:
    msg_type: str  # "CEB621", "CEB622", "CEB816" or "CEB818"
    guid: str  # the root element's guid, lowercased
    items: tuple[CebItem, ...]


# --------------------------------------------------------------------------- bounded XML parsing


class _BoundedTreeBuilder(TreeBuilder):
    """A TreeBuilder that refuses to grow past a depth and an element count.

    expat calls ``start`` for every element as it reads, so raising here stops the parse at the
    first offending element instead of after a huge tree is built.
    """

    def __init__(self, max_depth: int, max_elements: int) -> None:
        super().__init__()
        self._max_depth = max_depth
        self._max_elements = max_elements
        self._depth = 0
        self._count = 0

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self._depth += 1
        self._count += 1
        if self._depth > self._max_depth:
            raise CebRejected(f"XML nested deeper than {self._max_depth} levels")
        if self._count > self._max_elements:
            raise CebRejected(f"more than {self._max_elements} XML elements")
        if self._count == 1:
            _check_root_tag(tag)  # fail fast on a wrong namespace or type
        return super().start(tag, attrs)

    def end(self, tag: str) -> Element:
        self._depth -= 1
        return super().end(tag)


_UTF8_BOM = b"\xef\xbb\xbf"
_FOREIGN_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
_XML_DECL_ENCODING = re.compile(rb"\s*<\?xml\s[^>]*?\bencoding\s*=\s*[\"']([^\"']*)[\"']", re.ASCII)
_ROOT_NAME = re.compile(r"CEB(\d{3})Message", re.ASCII)
_SUPPORTED = ("CEB621", "CEB622", "CEB816", "CEB818")


def _check_encoding(data: bytes) -> bytes:
    """Return the document without a UTF-8 BOM; reject any other encoding."""
    for bom, name in _FOREIGN_BOMS:
        if data.startswith(bom):
            raise CebRejected(f"unsupported encoding {name}; send UTF-8")
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    match = _XML_DECL_ENCODING.match(data[:256])
    if match and match.group(1).lower() not in (b"utf-8", b"utf8"):
        raise CebRejected("unsupported encoding declared; send UTF-8")
    return data


def _check_root_tag(tag: str) -> None:
    namespace, local = _split_tag(tag)
    match = _ROOT_NAME.fullmatch(local)
    if namespace != NAMESPACE:
        raise CebRejected("not a CEB message (wrong or missing namespace)")
    if match is None:
        raise CebRejected("not a CEB message (unexpected root element)")
    msg_type = f"CEB{match.group(1)}"
    if msg_type not in _SUPPORTED:
        raise CebRejected(f"unsupported message type {msg_type}")


def _parse_xml(data: bytes, max_depth: int, max_elements: int) -> Element:
    builder = _BoundedTreeBuilder(max_depth, max_elements)
    # encoding= overrides the declaration, so nothing but UTF-8 ever reaches a decoder.
    parser = DefusedXMLParser(
        target=builder, encoding="utf-8", forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        for offset in range(0, len(data), _CHUNK):
            parser.feed(data[offset : offset + _CHUNK])
        root = parser.close()
    except CebRejected:
        raise
    except Exception as exc:
        # ParseError (malformed/truncated), DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
        # and any oddity of the parser are all "not a message we accept". The position helps an
        # operator; expat's own text is left out as it may quote the document.
        raise CebRejected(_xml_error_reason(exc)) from None
    return root


def _xml_error_reason(exc: Exception) -> str:
    name = type(exc).__name__
    if name == "DTDForbidden":
        return "DTD (<!DOCTYPE>) not allowed"
    if name in ("EntitiesForbidden", "ExternalReferenceForbidden"):
        return "XML entities not allowed"
    position = getattr(exc, "position", None)
    if position:
        return f"malformed XML at line {position[0]}, column {position[1]}"
    return "malformed XML"


# --------------------------------------------------------------------------- field access


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII | re.IGNORECASE)
_DECIMAL = re.compile(r"([0-9]{1,14})(?:\.([0-9]{1,5}))?", re.ASCII)
_PRE_NO = re.compile(r"B([0-9]{8})[0-9]{9}", re.ASCII)
_INVT_NO = re.compile(r"[0-9]{4}[0-9]{4}[IE][0-9]{9}", re.ASCII)
_CUSTOMS = re.compile(r"[0-9]{4}", re.ASCII)
_CODE3 = re.compile(r"[0-9]{3}", re.ASCII)
_TRADE_MODE = re.compile(r"[0-9]{4}", re.ASCII)
_HS_CODE = re.compile(r"[0-9]{10}", re.ASCII)
_TRAF_MODE = re.compile(r"[0-9A-Z]", re.ASCII)

T = TypeVar("T")


def _split_tag(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def _ceb_children(node: Element) -> Iterable[tuple[str, Element]]:
    """(local name, element) for each child in the CEB namespace; foreign elements are skipped."""
    for child in node:
        namespace, local = _split_tag(child.tag)
        if namespace == NAMESPACE:
            yield local, child


class _Fields:
    """The text fields of one node, read and validated with reasons that name node and field."""

    def __init__(self, where: str, node: Element, known: frozenset[str]) -> None:
        self.where = where
        self._values: dict[str, str] = {}
        for local, child in _ceb_children(node):
            if local not in known:
                continue  # forward compatible: newer spec versions add fields
            if len(child):
                self.reject(f"{local} must be text, not elements")
            if local in self._values:
                self.reject(f"duplicate {local}")
            self._values[local] = (child.text or "").strip()

    def reject(self, what: str) -> None:
        raise CebRejected(f"{self.where}: {what}")

    def text(self, name: str, max_len: int) -> str:
        value = self.optional(name, max_len)
        if value is None:
            self.reject(f"missing {name}")
        return value  # type: ignore[return-value]  # reject() never returns

    def optional(self, name: str, max_len: int) -> str | None:
        value = self._values.get(name) or None
        if value is not None and len(value) > max_len:
            self.reject(f"{name} longer than {max_len} characters")
        return value

    def matching(self, name: str, pattern: re.Pattern[str], expected: str) -> str:
        value = self.optional_matching(name, pattern, expected)
        if value is None:
            self.reject(f"missing {name}")
        return value  # type: ignore[return-value]

    def optional_matching(self, name: str, pattern: re.Pattern[str], expected: str) -> str | None:
        value = self._values.get(name) or None
        if value is not None and pattern.fullmatch(value) is None:
            self.reject(f"invalid {name} (expected {expected})")
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, 10)
        if value not in allowed:
            self.reject(f"invalid {name} (expected one of {', '.join(allowed)})")
        return value

    def converted(self, name: str, convert: Callable[[str], T | None], expected: str) -> T:
        value = self.optional_converted(name, convert, expected)
        if value is None:
            self.reject(f"missing {name}")
        return value  # type: ignore[return-value]

    def optional_converted(self, name: str, convert: Callable[[str], T | None], expected: str) -> T | None:
        raw = self._values.get(name) or None
        if raw is None:
            return None
        value = convert(raw)
        if value is None:
            self.reject(f"invalid {name} (expected {expected})")
        return value

    # Typed shorthands.
    def guid(self, name: str = "guid") -> str:
        return self.converted(name, _to_guid, "36-character GUID")

    def decimal(self, name: str) -> Decimal:
        return self.converted(name, _to_decimal, "non-negative decimal(19,5)")

    def optional_decimal(self, name: str) -> Decimal | None:
        return self.optional_converted(name, _to_decimal, "non-negative decimal(19,5)")

    def date8(self, name: str) -> date:
        return self.converted(name, _to_date, "yyyyMMdd")

    def datetime14(self, name: str) -> datetime:
        return self.converted(name, _to_datetime14, "yyyyMMddHHmmss")

    def return_time(self, name: str = "returnTime") -> datetime:
        return self.converted(name, _to_return_time, "yyyyMMddHHmmssfff")

    def pre_no(self) -> str | None:
        return self.optional_converted("preNo", _to_pre_no, "B + yyyyMMdd + 9 digits")

    def invt_no(self, required: bool) -> str | None:
        expected = "customs code, year, I/E, 9 digits"
        if required:
            return self.matching("invtNo", _INVT_NO, expected)
        return self.optional_matching("invtNo", _INVT_NO, expected)

    def code3(self, name: str) -> str:
        return self.matching(name, _CODE3, "3-digit code")

    def optional_code3(self, name: str) -> str | None:
        return self.optional_matching(name, _CODE3, "3-digit code")


def _to_guid(raw: str) -> str | None:
    return raw.lower() if _UUID.fullmatch(raw) else None


def _to_decimal(raw: str) -> Decimal | None:
    return Decimal(raw) if _DECIMAL.fullmatch(raw) else None


def _to_int(raw: str, lowest: int, max_digits: int) -> int | None:
    body = raw[1:] if raw.startswith("-") else raw
    if not (1 <= len(body) <= max_digits and body.isascii() and body.isdigit()):
        return None
    value = int(raw)
    return value if value >= lowest else None


def _to_gnum(raw: str) -> int | None:
    return _to_int(raw, 1, 4)  # N4, numbered from 1


def _to_count(raw: str) -> int | None:
    return _to_int(raw, 0, 9)  # N9


def _to_status(raw: str) -> int | None:
    return _to_int(raw, -(10**9), 9)  # negative codes are processing errors


def _to_tax_status(raw: str) -> int | None:
    return int(raw) if raw in ("1", "2", "3") else None


def _digits(raw: str, count: int) -> bool:
    return len(raw) == count and raw.isascii() and raw.isdigit()


def _to_date(raw: str) -> date | None:
    if not _digits(raw, 8):
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        return None


def _to_datetime14(raw: str) -> datetime | None:
    if not _digits(raw, 14):
        return None
    try:
        return datetime(int(raw[:4]), int(raw[4:6]), int(raw[6:8]), int(raw[8:10]), int(raw[10:12]), int(raw[12:14]))
    except ValueError:
        return None


def _to_return_time(raw: str) -> datetime | None:
    if _digits(raw, 17):
        moment = _to_datetime14(raw[:14])
        return moment.replace(microsecond=int(raw[14:]) * 1000) if moment else None
    return _to_datetime14(raw)  # some sources send seconds only


def _to_pre_no(raw: str) -> str | None:
    match = _PRE_NO.fullmatch(raw)
    return raw if match and _to_date(match.group(1)) else None


# --------------------------------------------------------------------------- message nodes

_HEAD_FIELDS = frozenset(
    "guid appType appTime appStatus orderNo ebpCode ebpName ebcCode ebcName logisticsNo logisticsCode "
    "logisticsName copNo preNo assureCode emsNo invtNo ieFlag declTime customsCode portCode ieDate "
    "buyerIdType buyerIdNumber buyerName buyerTelephone consigneeAddress agentCode agentName areaCode "
    "areaName tradeMode trafMode trafNo voyageNo billNo loctNo licenseNo country freight insuredFee "
    "currency wrapType packNo grossWeight netWeight note".split()
)
_LINE_FIELDS = frozenset(
    "gnum itemNo itemName gcode gname gmodel barCode country tradeCountry currency qty unit qty1 unit1 "
    "qty2 unit2 price totalPrice note".split()
)
_RETURN_FIELDS = frozenset(
    "guid customsCode ebpCode ebcCode agentCode copNo preNo invtNo returnStatus returnTime returnInfo".split()
)
_TAX_HEAD_FIELDS = frozenset(
    "guid returnTime invtNo taxNo customsTax valueAddedTax consumptionTax status entDutyNo note "
    "assureCode ebcCode logisticsCode agentCode customsCode orderNo logisticsNo".split()
)
_TAX_LINE_FIELDS = frozenset("gnum gcode taxPrice customsTax valueAddedTax consumptionTax".split())
_TAX_STATUS_FIELDS = frozenset("guid returnTime invtNo taxNo status entDutyNo assureCode".split())
# Envelope parts that carry no consumer data; ignored wherever they appear under the root.
_ENVELOPE = frozenset({"BaseTransfer", "BaseSubscribe", "ExtendMessage"})


def _buyer_id_number(fields: _Fields, id_type: str, declared: date) -> str:
    raw = fields.text("buyerIdNumber", 60)
    if id_type != "1":
        return raw
    try:
        # The buyer was born before the order was declared: the message's own time, not ours.
        return check_id_number(raw, declared)
    except (InvalidIdNumber, ValueError):
        # from None: the original exception may quote the number.
        raise CebRejected(f"{fields.where}: invalid buyer ID number") from None


def _inventory_head(f: _Fields) -> dict[str, object]:
    id_type = f.choice("buyerIdType", ("1", "2"))
    guid = f.guid()
    app_type = f.choice("appType", ("1", "2", "3"))
    app_time = f.datetime14("appTime")
    return {
        "guid": guid,
        "app_type": app_type,
        "app_time": app_time,
        "app_status": f.choice("appStatus", ("1", "2")),
        "order_no": f.text("orderNo", 60),
        "ebp_code": f.text("ebpCode", 18),
        "ebp_name": f.text("ebpName", 100),
        "ebc_code": f.text("ebcCode", 18),
        "ebc_name": f.text("ebcName", 100),
        "logistics_no": f.text("logisticsNo", 60),
        "logistics_code": f.text("logisticsCode", 18),
        "logistics_name": f.text("logisticsName", 100),
        "cop_no": f.optional("copNo", 20),
        "pre_no": f.pre_no(),
        "assure_code": f.text("assureCode", 30),
        "ems_no": f.optional("emsNo", 30),
        "invt_no": f.invt_no(required=False),
        "ie_flag": f.choice("ieFlag", ("I", "E")),
        "decl_date": f.date8("declTime"),
        "customs_code": f.matching("customsCode", _CUSTOMS, "4-digit customs code"),
        "port_code": f.matching("portCode", _CUSTOMS, "4-digit customs code"),
        "ie_date": f.date8("ieDate"),
        "buyer_id_type": id_type,
        "buyer_id_number": _buyer_id_number(f, id_type, app_time.date()),
        "buyer_name": f.text("buyerName", 60),
        "buyer_telephone": f.text("buyerTelephone", 30),
        "consignee_address": f.text("consigneeAddress", 200),
        "agent_code": f.text("agentCode", 18),
        "agent_name": f.text("agentName", 100),
        "area_code": f.optional("areaCode", 18),
        "area_name": f.optional("areaName", 100),
        "trade_mode": f.matching("tradeMode", _TRADE_MODE, "4 digits"),
        "traf_mode": f.matching("trafMode", _TRAF_MODE, "1 character"),
        "traf_no": f.optional("trafNo", 100),
        "voyage_no": f.optional("voyageNo", 32),
        "bill_no": f.optional("billNo", 37),
        "loct_no": f.optional("loctNo", 10),
        "license_no": f.optional("licenseNo", 19),
        "country": f.code3("country"),
        "freight": f.decimal("freight"),
        "insured_fee": f.decimal("insuredFee"),
        "currency": f.code3("currency"),
        "wrap_type": f.optional("wrapType", 1),
        "pack_no": f.converted("packNo", _to_count, "whole number"),
        "gross_weight": f.decimal("grossWeight"),
        "net_weight": f.decimal("netWeight"),
        "note": f.optional("note", 1000),
    }


def _inventory_line(f: _Fields) -> InventoryLine:
    return InventoryLine(
        gnum=f.converted("gnum", _to_gnum, "item number 1-9999"),
        item_no=f.optional("itemNo", 30),
        item_name=f.optional("itemName", 250),
        gcode=f.matching("gcode", _HS_CODE, "10-digit HS code"),
        gname=f.text("gname", 250),
        gmodel=f.optional("gmodel", 250),
        bar_code=f.optional("barCode", 50),
        country=f.code3("country"),
        trade_country=f.optional_code3("tradeCountry"),
        currency=f.code3("currency"),
        qty=f.decimal("qty"),
        unit=f.code3("unit"),
        qty1=f.optional_decimal("qty1"),
        unit1=f.optional_code3("unit1"),
        qty2=f.optional_decimal("qty2"),
        unit2=f.optional_code3("unit2"),
        price=f.decimal("price"),
        total_price=f.decimal("totalPrice"),
        note=f.optional("note", 1000),
    )


def _check_consecutive(where: str, gnums: list[int]) -> None:
    # gnum is the join key between list lines and tax lines, so gaps or repeats would mis-join.
    if gnums != list(range(1, len(gnums) + 1)):
        raise CebRejected(f"{where}: gnum must run 1, 2, 3, … without gaps or repeats")


def _where(msg_type: str, node_name: str, index: int, total: int) -> str:
    """Reason prefix for one business node: "CEB621", or "CEB621 Inventory[2]" when there are several.

    InventoryReturn holds its fields itself, so it is always named: "CEB622 InventoryReturn".
    """
    if total > 1:
        return f"{msg_type} {node_name}[{index}]"
    return f"{msg_type} {node_name}" if node_name == "InventoryReturn" else msg_type


def _single_child(where: str, node: Element, name: str) -> Element:
    found = [child for local, child in _ceb_children(node) if local == name]
    if not found:
        raise CebRejected(f"{where}: missing {name}")
    if len(found) > 1:
        raise CebRejected(f"{where}: more than one {name}")
    return found[0]


def _parse_inventory(node: Element, where: str) -> Inventory:
    head = _single_child(where, node, "InventoryHead")
    head_values = _inventory_head(_Fields(f"{where} InventoryHead", head, _HEAD_FIELDS))
    nodes = [child for local, child in _ceb_children(node) if local == "InventoryList"]
    if not nodes:
        raise CebRejected(f"{where}: missing InventoryList")
    lines = tuple(
        _inventory_line(_Fields(f"{where} InventoryList[{i}]", line, _LINE_FIELDS)) for i, line in enumerate(nodes, 1)
    )
    _check_consecutive(f"{where} InventoryList", [line.gnum for line in lines])
    return Inventory(**head_values, lines=lines)  # type: ignore[arg-type]


def _parse_return(node: Element, where: str) -> InventoryReturn:
    f = _Fields(where, node, _RETURN_FIELDS)
    receipt = InventoryReturn(
        guid=f.guid(),
        customs_code=f.optional_matching("customsCode", _CUSTOMS, "4-digit customs code"),
        ebp_code=f.optional("ebpCode", 18),
        ebc_code=f.optional("ebcCode", 18),
        agent_code=f.optional("agentCode", 18),
        cop_no=f.optional("copNo", 20),
        pre_no=f.pre_no(),
        invt_no=f.invt_no(required=False),
        return_status=f.converted("returnStatus", _to_status, "integer status code"),
        return_time=f.return_time(),
        return_info=f.optional("returnInfo", 1000),
    )
    if receipt.pre_no is None and receipt.invt_no is None and receipt.cop_no is None:
        f.reject("no preNo, invtNo or copNo to link it to a list")
    return receipt


def _tax_line(f: _Fields) -> TaxLine:
    return TaxLine(
        gnum=f.converted("gnum", _to_gnum, "item number 1-9999"),
        gcode=f.optional_matching("gcode", _HS_CODE, "10-digit HS code"),
        tax_price=f.decimal("taxPrice"),
        customs_tax=f.decimal("customsTax"),
        value_added_tax=f.decimal("valueAddedTax"),
        consumption_tax=f.decimal("consumptionTax"),
    )


def _parse_tax_slip(node: Element, where: str) -> TaxSlip:
    f = _Fields(f"{where} TaxHeadRd", _single_child(where, node, "TaxHeadRd"), _TAX_HEAD_FIELDS)
    nodes = [child for local, child in _ceb_children(node) if local == "TaxListRd"]
    if not nodes:
        raise CebRejected(f"{where}: missing TaxListRd")
    lines = tuple(
        _tax_line(_Fields(f"{where} TaxListRd[{i}]", line, _TAX_LINE_FIELDS)) for i, line in enumerate(nodes, 1)
    )
    _check_consecutive(f"{where} TaxListRd", [line.gnum for line in lines])
    return TaxSlip(
        guid=f.guid(),
        return_time=f.return_time(),
        invt_no=f.invt_no(required=True),  # type: ignore[arg-type]
        tax_no=f.text("taxNo", 30),
        customs_tax=f.decimal("customsTax"),
        value_added_tax=f.decimal("valueAddedTax"),
        consumption_tax=f.decimal("consumptionTax"),
        status=f.converted("status", _to_tax_status, "1, 2 or 3"),
        ent_duty_no=f.optional("entDutyNo", 60),
        note=f.optional("note", 1000),
        assure_code=f.optional("assureCode", 30),
        ebc_code=f.optional("ebcCode", 18),
        logistics_code=f.optional("logisticsCode", 18),
        agent_code=f.optional("agentCode", 18),
        customs_code=f.optional_matching("customsCode", _CUSTOMS, "4-digit customs code"),
        order_no=f.optional("orderNo", 60),
        logistics_no=f.optional("logisticsNo", 60),
        lines=lines,
    )


def _parse_tax_status(node: Element, where: str) -> TaxStatus:
    f = _Fields(f"{where} TaxHeadStatus", _single_child(where, node, "TaxHeadStatus"), _TAX_STATUS_FIELDS)
    return TaxStatus(
        guid=f.guid(),
        return_time=f.return_time(),
        invt_no=f.invt_no(required=True),  # type: ignore[arg-type]
        tax_no=f.text("taxNo", 30),
        status=f.converted("status", _to_tax_status, "1, 2 or 3"),
        ent_duty_no=f.optional("entDutyNo", 60),
        assure_code=f.optional("assureCode", 30),
    )


# msg type → (business node name, its parser)
_NODE_PARSERS: dict[str, tuple[str, Callable[[Element, str], CebItem]]] = {
    "CEB621": ("Inventory", _parse_inventory),
    "CEB622": ("InventoryReturn", _parse_return),
    "CEB816": ("Tax", _parse_tax_slip),
    "CEB818": ("Tax", _parse_tax_status),
}
_ALL_NODE_NAMES = frozenset(name for name, _ in _NODE_PARSERS.values()) | _ENVELOPE


def _parse_root(root: Element) -> CebMessage:
    _, local = _split_tag(root.tag)
    msg_type = local[: -len("Message")]
    node_name, parse_node = _NODE_PARSERS[msg_type]
    where = f"{msg_type}Message"
    guid = _to_guid((root.get("guid") or "").strip())
    if guid is None:
        raise CebRejected(f"{where}: missing or invalid guid attribute (expected 36-character GUID)")
    nodes: list[Element] = []
    for child in root:
        namespace, child_local = _split_tag(child.tag)
        if namespace == NAMESPACE and child_local == node_name:
            nodes.append(child)
        elif namespace == NAMESPACE and child_local in _ENVELOPE:
            continue
        elif namespace == NAMESPACE and child_local in _ALL_NODE_NAMES:
            raise CebRejected(f"{where}: unexpected {child_local}")
        else:
            # The name is not echoed: an unknown tag is arbitrary sender text.
            raise CebRejected(f"{where}: unexpected element")
    if not nodes:
        raise CebRejected(f"{where}: missing {node_name}")
    items = tuple(parse_node(node, _where(msg_type, node_name, i, len(nodes))) for i, node in enumerate(nodes, 1))
    return CebMessage(msg_type=msg_type, guid=guid, items=items)


def parse_message(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    max_elements: int = MAX_ELEMENTS,
) -> CebMessage:
    """Parse and validate one CEB message. Raises ``CebRejected`` for anything not acceptable."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("parse_message takes bytes")
    if memoryview(data).nbytes > max_bytes:
        raise CebRejected(f"message larger than {max_bytes} bytes")
    data = bytes(data)  # a private copy: a bytearray could change under us
    if len(data) > max_bytes:
        raise CebRejected(f"message larger than {max_bytes} bytes")
    if not data.strip():
        raise CebRejected("empty message")
    data = _check_encoding(data)
    if b"\x00" in data:
        raise CebRejected("NUL byte in message")
    root = _parse_xml(data, max_depth, max_elements)
    return _parse_root(root)
