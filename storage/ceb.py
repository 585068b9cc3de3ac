"""Parse China Customs cross-border e-commerce (CEB) messages: bytes in, frozen dataclasses out.

Supported (namespace ``http://www.chinaport.gov.cn/ceb``; what the official 202205 schema allows is in
reference/ceb-schema.md, which wins over reference/domain.md §2):

* CEB621 import list          ``CEB621Message/Inventory{InventoryHead, InventoryList+}+``    → ``Inventory``
* CEB622 list receipt         ``CEB622Message/InventoryReturn+``                              → ``InventoryReturn``
* CEB623 cancellation         ``CEB623Message/InvtCancel+``                                   → ``ListRequest``
* CEB624 its receipt          ``CEB624Message/InvtCancelReturn+``                             → ``RequestReturn``
* CEB625 return (退货)         ``CEB625Message/InvtRefund{InvtRefundHead, InvtRefundList+}+``  → ``ListRequest``
* CEB626 its receipt          ``CEB626Message/InvtRefundReturn+``                             → ``RequestReturn``
* CEB816 tax slip             ``CEB816Message/Tax{TaxHeadRd, TaxListRd+}+``                  → ``TaxSlip``
* CEB818 tax-slip status      ``CEB818Message/Tax{TaxHeadStatus}+``                          → ``TaxStatus``

Anything else is rejected with ``CebRejected``. The module is pure (no I/O, no database) and imports
only the standard library, defusedxml and ``bot.domain``.

Decisions callers rely on:

* **Safety.** The size cap is checked before parsing. The XML goes through defusedxml's parser with
  DTDs, entity declarations and external references forbidden, fed in chunks into a tree builder
  that stops as soon as the nesting depth or the element count passes its cap, so no hostile
  document can make us build an unbounded tree. The common case takes a shortcut with the same
  outcome: a document without ``<!DOCTYPE`` (so without entities) and with fewer ``<`` than the
  element cap is built by the C parser, and the same caps are checked on the tree; whatever fails
  there goes the guarded way, which gives the reason (`_parse_xml_fast`).
* **Signature.** Declarations carry an enveloped ``ds:Signature`` as the last child of the root (the
  schema requires it for CEB621/623/625). It is tolerated, not verified (that is the customs' job),
  and nothing of it is kept: the tree builder drops it as it streams by. It is refused when it is
  not a child of the root, appears twice, is larger than a real one can be (``MAX_SIGNATURE_*``), or
  names anything outside the message (a ``URI`` that is neither empty nor ``#…``).
* **Encoding.** UTF-8 (with or without a BOM), and GB2312, GBK or GB18030 when the XML declaration
  says so (decoded as GB18030, their superset). A declaration that does not match the bytes is
  refused (GB declared but the text is UTF-8 Chinese; UTF-8 declared or implied but the bytes are
  not), as is any other encoding (UTF-16/32, ISO-8859-1, Big5 …). NUL bytes are rejected outright.
* **Reasons.** ``CebRejected.reason`` is short, human and never echoes a field's value, so it can
  never carry an ID number, name, phone or address; it names the message, node and field.
* **Times.** All dates and times in CEB messages are China local time (UTC+8) without a zone; they
  are returned as *naive* ``datetime``/``date`` objects in that local time.
* **Identifiers.** A guid (root attribute and each node's) is any 36 characters without whitespace
  or control characters (the schema has no UUID pattern: ``CEB621_HNZB_FXJK_20220208175054_0034`` is
  a real one); it is returned with ASCII letters lowercased, so guids compare case-insensitively.
  preNo and invtNo are at most 18 characters, with no pattern (the customs' own samples carry
  ``T2016…`` pre-entry numbers and list numbers without the I/E letter); returned as given.
* **Field limits** are the schema's: string lengths, ``length`` facets (codes), optional fields
  (``ieDate``), ``xs:decimal`` amounts with at most 19 significant digits and 5 decimals (``410.0``,
  ``+5`` and ``.5`` are decimals; a minus sign, an exponent, NaN or non-ASCII digits are not: a
  negative amount or quantity is refused).
* **Buyer ID.** A resident ID (type 1) is normalised when it is valid; an invalid one is kept as sent
  (upper-cased): it is the customs' record, not ours to judge, and it can never match an account,
  whose ID numbers are checked on import.
* **Text.** Each field's text is stripped; an empty optional field becomes ``None``; an empty
  required field is "missing". Unknown child elements of a known node are ignored (newer spec
  versions add fields); unknown nodes directly under the root are rejected. A known field given
  twice, or holding elements instead of text, is rejected. Fields the bot does not use (buyer
  details of a cancellation or a return, goods descriptions) are not read, so they cannot refuse a
  message either.
* **Cross-message links** are not checked here (ingest does that): a receipt names its list by
  preNo, invtNo or copNo (+ ebcCode); a cancellation or a return by invtNo (or ebcCode + orderNo),
  their receipts by invtNo, preNo or copNo; a tax slip and a tax-slip status by invtNo and taxNo.

Over 400 lines: one parser for every CEB message type the bot reads, sharing the field readers
and their limits (the schema's); the types' own parts are a few lines each.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar
from xml.etree.ElementTree import Element, TreeBuilder
from xml.etree.ElementTree import XMLParser as _FastXMLParser  # C (_elementtree)

from defusedxml.ElementTree import DefusedXMLParser

from bot.domain.identity import InvalidIdNumber, check_id_number, normalize_id_number

__all__ = [
    "CANCEL",
    "DEFAULT_MAX_BYTES",
    "DSIG_NAMESPACE",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_SIGNATURE_CHARS",
    "MAX_SIGNATURE_ELEMENTS",
    "MESSAGE_TYPES",
    "NAMESPACE",
    "REFUND",
    "CebMessage",
    "CebRejected",
    "Inventory",
    "InventoryLine",
    "InventoryReturn",
    "ListRequest",
    "RefundLine",
    "RequestReturn",
    "TaxLine",
    "TaxSlip",
    "TaxStatus",
    "parse_message",
]

NAMESPACE = "http://www.chinaport.gov.cn/ceb"
DSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# A CEB message is 4 levels deep; 32 leaves room for extensions while stopping nesting bombs.
MAX_DEPTH = 32
# ~20 elements per list line, so this allows about 2,500 lines per message: far beyond real
# messages, and it bounds the work a hostile "many siblings" document can cause.
MAX_ELEMENTS = 50_000
# A real enveloped signature is ~15 elements and ~3 KB (one X.509 certificate); these caps are
# far above that and stop a padded one long before the size cap.
MAX_SIGNATURE_ELEMENTS = 200
MAX_SIGNATURE_CHARS = 64 * 1024
_CHUNK = 64 * 1024

CANCEL = "cancel"  # CEB623 撤销申请单 / CEB624
REFUND = "refund"  # CEB625 退货申请单 / CEB626


class CebRejected(Exception):
    """The message cannot be accepted. ``reason`` is safe to log: it holds no personal data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- result objects


class _Compact:
    """Pickled as its class and its field values, rebuilt through ``__init__``: parsed messages
    cross from the parser process to the one that ingests them, and this loads about twice as fast
    as the frozen slotted dataclass's own state (a Python loop over `fields()` per object)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), tuple([getattr(self, name) for name in self.__match_args__])  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class InventoryLine(_Compact):
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
class Inventory(_Compact):
    """A CEB621 import list: head plus lines. Carries the buyer's identity."""

    guid: str
    app_type: str
    app_time: datetime
    app_status: str  # "1" 暂存 (a draft, never sent to customs), "2" 申报 (declared)
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
    ie_date: date | None  # optional: "进口申报时无法确知…免填"
    buyer_id_type: str
    buyer_id_number: str  # normalised when buyer_id_type == "1" and the number is valid
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

    @property
    def declared(self) -> bool:
        """appStatus 2 (申报); 1 (暂存) is a saved draft that never reached customs."""
        return self.app_status == "2"


@dataclass(frozen=True, slots=True)
class InventoryReturn(_Compact):
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
class RefundLine(_Compact):
    """One returned goods line of a CEB625: ``gnum`` is the list line's, ``qty`` what goes back."""

    gnum: int
    gcode: str | None
    gname: str | None
    qty: Decimal
    unit: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class ListRequest(_Compact):
    """A cancellation (CEB623 InvtCancel) or a return (CEB625 InvtRefund) of a declared list.

    It names the list by ``invt_no`` (the schema requires it) or by ``ebc_code`` + ``order_no``.
    The buyer fields are not kept: the list the request names already holds the buyer.
    """

    kind: str  # CANCEL or REFUND
    guid: str
    app_type: str
    app_time: datetime
    app_status: str
    customs_code: str | None
    order_no: str
    ebp_code: str | None
    ebc_code: str
    logistics_no: str | None
    cop_no: str | None
    pre_no: str | None
    invt_no: str | None
    agent_code: str | None
    reason: str | None
    note: str | None
    lines: tuple[RefundLine, ...]  # REFUND only (empty for CANCEL)

    @property
    def declared(self) -> bool:
        return self.app_status == "2"


@dataclass(frozen=True, slots=True)
class RequestReturn(_Compact):
    """A receipt of a cancellation (CEB624) or a return (CEB626): 399 审结 means approved.

    ``pre_no`` and ``cop_no`` are the request's own numbers; ``invt_no`` is the list's.
    """

    kind: str
    guid: str
    customs_code: str | None
    agent_code: str | None
    ebp_code: str | None
    ebc_code: str | None
    cop_no: str | None
    pre_no: str | None
    invt_no: str | None
    return_status: int
    return_time: datetime
    return_info: str | None


@dataclass(frozen=True, slots=True)
class TaxLine(_Compact):
    gnum: int
    gcode: str | None
    tax_price: Decimal
    customs_tax: Decimal
    value_added_tax: Decimal
    consumption_tax: Decimal


@dataclass(frozen=True, slots=True)
class TaxSlip(_Compact):
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
class TaxStatus(_Compact):
    """A CEB818 tax-slip status change (1 已生成, 2 已汇总, 3 作废)."""

    guid: str
    return_time: datetime
    invt_no: str
    tax_no: str
    status: int
    ent_duty_no: str | None
    assure_code: str | None


CebItem = Inventory | InventoryReturn | ListRequest | RequestReturn | TaxSlip | TaxStatus


@dataclass(frozen=True, slots=True)
class CebMessage(_Compact):
    msg_type: str  # "CEB621", "CEB622", "CEB623", "CEB624", "CEB625", "CEB626", "CEB816" or "CEB818"
    guid: str  # the root element's guid, ASCII letters lowercased
    items: tuple[CebItem, ...]


# --------------------------------------------------------------------------- bounded XML parsing

_SIGNATURE = f"{{{DSIG_NAMESPACE}}}Signature"


class _BoundedTreeBuilder(TreeBuilder):
    """A TreeBuilder that refuses to grow past a depth and an element count, and drops the
    enveloped signature as it goes.

    expat calls ``start`` for every element as it reads, so raising here stops the parse at the
    first offending element instead of after a huge tree is built.
    """

    def __init__(self, max_depth: int, max_elements: int) -> None:
        super().__init__()
        self._max_depth = max_depth
        self._max_elements = max_elements
        self._depth = 0
        self._count = 0
        self._signatures = 0
        self._in_signature = 0  # depth inside ds:Signature (0: outside)
        self._signature_elements = 0
        self._signature_chars = 0

    def start(self, tag: str, attrs: dict[str, str]) -> Element | None:  # type: ignore[override]
        self._depth += 1
        self._count += 1
        if self._depth > self._max_depth:
            raise CebRejected(f"XML nested deeper than {self._max_depth} levels")
        if self._count > self._max_elements:
            raise CebRejected(f"more than {self._max_elements} XML elements")
        if self._count == 1:
            _check_root_tag(tag)  # fail fast on a wrong namespace or type
        if self._in_signature or tag == _SIGNATURE:
            self._signature_start(tag, attrs)
            return None
        return super().start(tag, attrs)

    def _signature_start(self, tag: str, attrs: dict[str, str]) -> None:
        if not self._in_signature:
            if self._depth != 2:
                raise CebRejected("XML signature must be a direct child of the message root")
            self._signatures += 1
            if self._signatures > 1:
                raise CebRejected("more than one XML signature")
        self._in_signature += 1
        self._signature_elements += 1
        if self._signature_elements > MAX_SIGNATURE_ELEMENTS:
            raise CebRejected(f"XML signature has more than {MAX_SIGNATURE_ELEMENTS} elements")
        for name, value in attrs.items():
            self._signature_text(len(name) + len(value))
            if name == "URI" and value and not value.startswith("#"):
                # Enveloped CEB signatures sign the message itself (URI=""): a reference to a
                # file or a URL is not one of them, and a verifier downstream must never fetch it.
                raise CebRejected("XML signature refers to something outside the message")

    def _signature_text(self, size: int) -> None:
        self._signature_chars += size
        if self._signature_chars > MAX_SIGNATURE_CHARS:
            raise CebRejected(f"XML signature larger than {MAX_SIGNATURE_CHARS} characters")

    def data(self, data: str) -> None:
        if self._in_signature:
            self._signature_text(len(data))
            return  # nothing of the signature is kept
        super().data(data)

    def end(self, tag: str) -> Element | None:  # type: ignore[override]
        self._depth -= 1
        if self._in_signature:
            self._in_signature -= 1
            return None
        return super().end(tag)


_UTF8_BOM = b"\xef\xbb\xbf"
_FOREIGN_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
_XML_DECL = re.compile(rb"\s*<\?xml\s[^>]*?\?>", re.ASCII)
_DECL_ENCODING = re.compile(rb"\bencoding\s*=\s*[\"']([^\"']*)[\"']", re.ASCII)
_ENCODING_NAME = re.compile(r"[A-Za-z0-9._-]{1,40}", re.ASCII)
_ROOT_NAME = re.compile(r"CEB(\d{3})Message", re.ASCII)
_UTF8_NAMES = frozenset({"utf-8", "utf8"})
_ASCII_NAMES = frozenset({"us-ascii", "ascii"})
# GB2312 ⊂ GBK ⊂ GB18030: one decoder for the family, so a GB2312 declaration over GBK characters
# (common in practice) still reads.
_GB_NAMES = frozenset({"gb2312", "gbk", "gb18030", "cp936", "euc-cn", "x-gbk", "x-euc-cn", "csgb2312", "gb_2312-80"})


def _decode(data: bytes) -> bytes:
    """The document as UTF-8 without its XML declaration; reject any encoding we do not read.

    Every byte is decoded here, strictly, so expat only ever sees valid UTF-8, and a declaration
    that lies about the bytes is refused instead of turning the text into mojibake.
    """
    for bom, name in _FOREIGN_BOMS:
        if data.startswith(bom):
            raise CebRejected(f"unsupported encoding {name}; send UTF-8 or GB18030")
    if b"\x00" in data:
        raise CebRejected("NUL byte in message")
    has_bom = data.startswith(_UTF8_BOM)
    if has_bom:
        data = data[len(_UTF8_BOM) :]
    declaration = _XML_DECL.match(data[:512])
    declared = None
    if declaration:
        found = _DECL_ENCODING.search(declaration.group(0))
        declared = found.group(1).decode("ascii", "replace").strip() if found else None
        body = data[declaration.end() :]
    else:
        body = data
    name = (declared or "UTF-8").lower()
    if has_bom and name not in _UTF8_NAMES:
        raise CebRejected("UTF-8 byte order mark but another encoding declared")
    if name in _ASCII_NAMES:
        if not body.isascii():
            first = next(i for i, byte in enumerate(body) if byte > 0x7F)
            raise CebRejected(f"not valid {declared} text at byte {first}")
        return body
    if name in _UTF8_NAMES:
        _strict(body, "utf-8", declared or "UTF-8 (no encoding declared)")
        return body
    if name in _GB_NAMES:
        label = (declared or "").upper()
        if _reads_as_utf8_chinese(body):
            raise CebRejected(f"{label} declared but the text is UTF-8")
        return _strict(body, "gb18030", label).encode("utf-8")
    shown = declared if declared and _ENCODING_NAME.fullmatch(declared) else "?"
    raise CebRejected(f"unsupported encoding {shown} declared; send UTF-8 or GB18030")


# Looked up once at import: a codec's module is otherwise imported (a file opened) mid-parse.
_GB18030 = codecs.lookup("gb18030")


def _strict(body: bytes, codec: str, label: str) -> str:
    try:
        return (_GB18030.decode(body, "strict")[0]) if codec == "gb18030" else body.decode(codec, "strict")
    except UnicodeDecodeError as exc:
        raise CebRejected(f"not valid {label} text at byte {exc.start}") from None


# Where UTF-8 text puts Chinese: CJK radicals, punctuation, kana … unified ideographs; compatibility
# ideographs; vertical and full-width forms. All are 3-byte sequences (E2 BA … EF BF).
_CHINESE = re.compile("[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")


def _reads_as_utf8_chinese(body: bytes) -> bool:
    """The bytes are UTF-8 holding Chinese: a GB declaration over them would read as mojibake.

    Being valid UTF-8 is not enough: a GB text passes for it by chance (一 is D2 BB, UTF-8's һ; one
    GB2312 character in seven does on its own), but reads as Latin, Greek, Cyrillic or Arabic
    letters, not as Chinese. A longer run can still happen to read as Chinese (a few runs of three
    characters in ten thousand): that message is refused, never misread. The other way round, UTF-8
    with no Chinese at all under a GB declaration is read as GB; a customs message has Chinese.
    """
    if body.isascii():
        return False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _CHINESE.search(text) is not None


def _check_root_tag(tag: str) -> None:
    namespace, local = _split_tag(tag)
    match = _ROOT_NAME.fullmatch(local)
    if namespace != NAMESPACE:
        raise CebRejected("not a CEB message (wrong or missing namespace)")
    if match is None:
        raise CebRejected("not a CEB message (unexpected root element)")
    msg_type = f"CEB{match.group(1)}"
    if msg_type not in MESSAGE_TYPES:
        raise CebRejected(f"unsupported message type {msg_type}")


_DOCTYPE = b"<!DOCTYPE"


def _parse_xml(data: bytes, max_depth: int, max_elements: int) -> Element:
    root = _parse_xml_fast(data, max_depth, max_elements)
    return root if root is not None else _parse_xml_guarded(data, max_depth, max_elements)


def _parse_xml_fast(data: bytes, max_depth: int, max_elements: int) -> Element | None:
    """The tree by the C parser and tree builder (no Python call per element), or None: then the
    guarded parser decides, and says why it refuses.

    Only where that gives the very same tree as the guarded parser, checked before or after:
    * no DTD: without ``<!DOCTYPE`` (case-sensitive in XML; the bytes are UTF-8 here) there is none,
      so no entity can be declared, internal or external (an undeclared one is an error);
    * the tree is small: every element has a ``<`` of its own that does not start an end tag, so
      this count bounds the elements before anything is built;
    * the depth, the root and the signature pass the same checks the guarded builder makes as it
      streams (the signature is then dropped, as that builder drops it).
    Anything else (a DTD, too many ``<``, malformed XML, any check failing) goes the guarded way.
    """
    if _DOCTYPE in data or data.count(b"<") - data.count(b"</") > max_elements:
        return None
    parser = _FastXMLParser(encoding="utf-8")  # noqa: S314 - no DTD, so no entities (checked above)
    try:
        for offset in range(0, len(data), _CHUNK):  # in chunks: expat's buffer stays small
            parser.feed(data[offset : offset + _CHUNK])
        root: Element = parser.close()
        _check_root_tag(root.tag)
    except Exception:
        return None
    level, depth = [root], 1
    while True:
        level = [child for element in level for child in element]
        if not level:
            break
        depth += 1
        if depth > max_depth:
            return None
    signatures = list(root.iter(_SIGNATURE))
    if signatures:
        if len(signatures) > 1 or not _signature_within_caps(signatures[0]) or signatures[0] not in list(root):
            return None
        root.remove(signatures[0])
    return root


def _signature_within_caps(signature: Element) -> bool:
    """What `_BoundedTreeBuilder` counts of a signature as it streams by (elements, attribute and
    text characters; no URI outside the message), counted on the built one."""
    elements = chars = 0
    for element in signature.iter():
        elements += 1
        chars += len(element.text or "") + (len(element.tail or "") if element is not signature else 0)
        for name, value in element.attrib.items():
            chars += len(name) + len(value)
            if name == "URI" and value and not value.startswith("#"):
                return False
    return elements <= MAX_SIGNATURE_ELEMENTS and chars <= MAX_SIGNATURE_CHARS


def _parse_xml_guarded(data: bytes, max_depth: int, max_elements: int) -> Element:
    builder = _BoundedTreeBuilder(max_depth, max_elements)
    # The bytes were decoded and re-encoded by _decode: expat reads nothing but UTF-8.
    parser = DefusedXMLParser(
        target=builder, encoding="utf-8", forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        for offset in range(0, len(data), _CHUNK):
            parser.feed(data[offset : offset + _CHUNK])
        root: Element = parser.close()  # the tree builder's root (defusedxml is untyped)
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

# xs:decimal: an optional "+" (a "-" is refused: no CEB amount or quantity is negative), digits
# with an optional fraction; at least one digit.
_DECIMAL = re.compile(r"\+?([0-9]*)(?:\.([0-9]*))?", re.ASCII)
_MAX_TOTAL_DIGITS = 19
_MAX_FRACTION_DIGITS = 5

T = TypeVar("T")


def _split_tag(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


_CEB_PREFIX = f"{{{NAMESPACE}}}"  # a tag that starts so is in the CEB namespace (`_split_tag`)
_CEB_PREFIX_LEN = len(_CEB_PREFIX)


def _ceb_children(node: Element) -> Iterable[tuple[str, Element]]:
    """(local name, element) for each child in the CEB namespace; foreign elements are skipped."""
    for child in node:
        tag = child.tag
        if tag.startswith(_CEB_PREFIX):
            yield tag[_CEB_PREFIX_LEN:], child


class _Fields:
    """The text fields of one node, read and validated with reasons that name node and field."""

    def __init__(self, where: str, node: Element, known: frozenset[str]) -> None:
        self.where = where
        self._values: dict[str, str] = {}
        values = self._values
        for child in node:  # `_ceb_children`, inlined: this loop runs for every field of every message
            tag = child.tag
            if not tag.startswith(_CEB_PREFIX):
                continue
            local = tag[_CEB_PREFIX_LEN:]
            if local not in known:
                continue  # forward compatible: newer spec versions add fields
            if len(child):
                self.reject(f"{local} must be text, not elements")
            if local in values:
                self.reject(f"duplicate {local}")
            text = child.text
            values[local] = text.strip() if text else ""

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

    def code(self, name: str, length: int) -> str:
        value = self.optional_code(name, length)
        if value is None:
            self.reject(f"missing {name}")
        return value  # type: ignore[return-value]

    def optional_code(self, name: str, length: int, *, shorter: bool = False) -> str | None:
        """A code with the schema's `length` facet (`shorter`: maxLength instead)."""
        value = self._values.get(name) or None
        if value is None:
            return None
        if len(value) > length or (not shorter and len(value) != length) or _has_space(value):
            expected = f"up to {length}" if shorter else f"{length}"
            self.reject(f"invalid {name} (expected {expected} characters)")
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
        return self.converted(name, _to_guid, "36 characters without spaces")

    def decimal(self, name: str) -> Decimal:
        return self.converted(name, _to_decimal, "non-negative decimal, at most 19 digits and 5 decimals")

    def optional_decimal(self, name: str) -> Decimal | None:
        return self.optional_converted(name, _to_decimal, "non-negative decimal, at most 19 digits and 5 decimals")

    def date8(self, name: str) -> date:
        return self.converted(name, _to_date, "yyyyMMdd")

    def optional_date8(self, name: str) -> date | None:
        return self.optional_converted(name, _to_date, "yyyyMMdd")

    def datetime14(self, name: str) -> datetime:
        return self.converted(name, _to_datetime14, "yyyyMMddHHmmss")

    def return_time(self, name: str = "returnTime") -> datetime:
        return self.converted(name, _to_return_time, "yyyyMMddHHmmssSSS")

    def number18(self, name: str, *, required: bool = False) -> str | None:
        """preNo / invtNo: at most 18 characters, no pattern (ceb-schema.md)."""
        value = self.optional_code(name, 18, shorter=True)
        if value is None and required:
            self.reject(f"missing {name}")
        return value

    def gnum(self) -> int:
        return self.converted("gnum", _to_gnum, "item number 1-9999")


_SPACE = re.compile(r"\s")  # str.isspace() for every code point


def _has_space(value: str) -> bool:
    return _SPACE.search(value) is not None


_GUID = re.compile(r"\S{36}")


def _to_guid(raw: str) -> str | None:
    # xs:length 36, "英文字母大写" by convention only: any 36 visible characters, compared
    # case-insensitively (ASCII letters only: str.lower() could change a length or a meaning).
    if _GUID.fullmatch(raw) is None or not raw.isprintable():
        return None
    return raw.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _to_decimal(raw: str) -> Decimal | None:
    match = _DECIMAL.fullmatch(raw)
    if match is None:
        return None
    whole, fraction = match.group(1), (match.group(2) or "")
    if not whole and not fraction:
        return None
    # The facets apply to the value: leading zeros and trailing fraction zeros do not count.
    significant_fraction = fraction.rstrip("0")
    if len(significant_fraction) > _MAX_FRACTION_DIGITS:
        return None
    if len(whole.lstrip("0")) + len(significant_fraction) > _MAX_TOTAL_DIGITS:
        return None
    return Decimal(f"{whole or '0'}.{significant_fraction or '0'}")


def _to_int(raw: str, lowest: int, max_digits: int) -> int | None:
    body = raw[1:] if raw[:1] in ("-", "+") else raw
    if not (1 <= len(body) <= max_digits and body.isascii() and body.isdigit()):
        return None
    value = int(raw)
    return value if value >= lowest else None


def _to_gnum(raw: str) -> int | None:
    return _to_int(raw, 1, 4)  # numbered from 1; 99 lines at most per list, 9999 is generous


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
_REQUEST_FIELDS = frozenset(
    "guid appType appTime appStatus customsCode orderNo ebpCode ebcCode logisticsNo copNo preNo invtNo "
    "agentCode reason note".split()
)
_REFUND_LINE_FIELDS = frozenset("gnum gcode gname qty unit note".split())
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
        # Kept as sent (see the module notes); the exception may quote the number, so it is dropped.
        return normalize_id_number(raw)


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
        "pre_no": f.number18("preNo"),
        "assure_code": f.text("assureCode", 30),
        "ems_no": f.optional("emsNo", 30),
        "invt_no": f.number18("invtNo"),
        "ie_flag": f.choice("ieFlag", ("I", "E")),
        "decl_date": f.date8("declTime"),
        "customs_code": f.code("customsCode", 4),
        "port_code": f.code("portCode", 4),
        "ie_date": f.optional_date8("ieDate"),
        "buyer_id_type": id_type,
        "buyer_id_number": _buyer_id_number(f, id_type, app_time.date()),
        "buyer_name": f.text("buyerName", 60),
        "buyer_telephone": f.text("buyerTelephone", 30),
        "consignee_address": f.text("consigneeAddress", 200),
        "agent_code": f.text("agentCode", 18),
        "agent_name": f.text("agentName", 100),
        "area_code": f.optional("areaCode", 18),
        "area_name": f.optional("areaName", 100),
        "trade_mode": f.code("tradeMode", 4),
        "traf_mode": f.code("trafMode", 1),
        "traf_no": f.optional("trafNo", 100),
        "voyage_no": f.optional("voyageNo", 32),
        "bill_no": f.optional("billNo", 37),
        "loct_no": f.optional("loctNo", 10),
        "license_no": f.optional("licenseNo", 19),
        "country": f.code("country", 3),
        "freight": f.decimal("freight"),
        "insured_fee": f.decimal("insuredFee"),
        "currency": f.code("currency", 3),
        "wrap_type": f.optional("wrapType", 1),
        "pack_no": f.converted("packNo", _to_count, "whole number"),
        "gross_weight": f.decimal("grossWeight"),
        "net_weight": f.decimal("netWeight"),
        "note": f.optional("note", 1000),
    }


def _inventory_line(f: _Fields) -> InventoryLine:
    return InventoryLine(
        gnum=f.gnum(),
        item_no=f.optional("itemNo", 30),  # 20 in the 202205 schema, 30 in 2018's: the wider one
        item_name=f.optional("itemName", 250),
        gcode=f.code("gcode", 10),
        gname=f.text("gname", 250),
        gmodel=f.optional("gmodel", 510),
        bar_code=f.optional("barCode", 50),
        country=f.code("country", 3),
        trade_country=f.optional_code("tradeCountry", 3, shorter=True),
        currency=f.code("currency", 3),
        qty=f.decimal("qty"),
        unit=f.code("unit", 3),
        qty1=f.optional_decimal("qty1"),
        unit1=f.optional_code("unit1", 3),
        qty2=f.optional_decimal("qty2"),
        unit2=f.optional_code("unit2", 3),
        price=f.decimal("price"),
        total_price=f.decimal("totalPrice"),
        note=f.optional("note", 1000),
    )


def _check_consecutive(where: str, gnums: list[int]) -> None:
    # gnum is the join key between list lines and tax lines, so gaps or repeats would mis-join.
    if gnums != list(range(1, len(gnums) + 1)):
        raise CebRejected(f"{where}: gnum must run 1, 2, 3, … without gaps or repeats")


# Nodes that hold their fields themselves (not a head + lines): their reasons always name them.
_FLAT_NODES = frozenset({"InventoryReturn", "InvtCancel", "InvtCancelReturn", "InvtRefundReturn"})


def _where(msg_type: str, node_name: str, index: int, total: int) -> str:
    """Reason prefix for one business node: "CEB621", or "CEB621 Inventory[2]" when there are several.

    A flat node (a receipt, a cancellation) is always named: "CEB622 InventoryReturn".
    """
    if total > 1:
        return f"{msg_type} {node_name}[{index}]"
    return f"{msg_type} {node_name}" if node_name in _FLAT_NODES else msg_type


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


def _receipt_fields(f: _Fields) -> dict[str, object]:
    values: dict[str, object] = {
        "guid": f.guid(),
        "customs_code": f.optional_code("customsCode", 4),
        "ebp_code": f.optional("ebpCode", 18),
        "ebc_code": f.optional("ebcCode", 18),
        "agent_code": f.optional("agentCode", 18),
        "cop_no": f.optional("copNo", 20),
        "pre_no": f.number18("preNo"),
        "invt_no": f.number18("invtNo"),
        "return_status": f.converted("returnStatus", _to_status, "integer status code"),
        "return_time": f.return_time(),
        "return_info": f.optional("returnInfo", 1000),
    }
    if values["pre_no"] is None and values["invt_no"] is None and values["cop_no"] is None:
        f.reject("no preNo, invtNo or copNo to link it to a list")
    return values


def _parse_return(node: Element, where: str) -> InventoryReturn:
    return InventoryReturn(**_receipt_fields(_Fields(where, node, _RETURN_FIELDS)))  # type: ignore[arg-type]


def _request_fields(f: _Fields, kind: str) -> dict[str, object]:
    return {
        "kind": kind,
        "guid": f.guid(),
        # CEB623 knows only 1 (新增); CEB625 also 2 (变更) and 3 (删除, a withdrawn return).
        "app_type": f.choice("appType", ("1",) if kind == CANCEL else ("1", "2", "3")),
        "app_time": f.datetime14("appTime"),
        "app_status": f.choice("appStatus", ("1", "2")),
        "customs_code": f.optional_code("customsCode", 4),
        "order_no": f.text("orderNo", 60),
        "ebp_code": f.optional("ebpCode", 18),
        "ebc_code": f.text("ebcCode", 18),
        "logistics_no": f.optional("logisticsNo", 60),
        "cop_no": f.optional("copNo", 20),
        "pre_no": f.number18("preNo"),
        "invt_no": f.number18("invtNo"),
        "agent_code": f.optional("agentCode", 18),
        "reason": f.optional("reason", 1000),
        "note": f.optional("note", 1000),
    }


def _parse_cancel(node: Element, where: str) -> ListRequest:
    return ListRequest(**_request_fields(_Fields(where, node, _REQUEST_FIELDS), CANCEL), lines=())  # type: ignore[arg-type]


def _refund_line(f: _Fields) -> RefundLine:
    return RefundLine(
        gnum=f.gnum(),
        gcode=f.optional_code("gcode", 10),
        gname=f.optional("gname", 250),
        qty=f.decimal("qty"),
        unit=f.optional_code("unit", 3),
        note=f.optional("note", 1000),
    )


def _parse_refund(node: Element, where: str) -> ListRequest:
    head = _Fields(f"{where} InvtRefundHead", _single_child(where, node, "InvtRefundHead"), _REQUEST_FIELDS)
    values = _request_fields(head, REFUND)
    nodes = [child for local, child in _ceb_children(node) if local == "InvtRefundList"]
    if not nodes:
        raise CebRejected(f"{where}: missing InvtRefundList")
    lines = tuple(
        _refund_line(_Fields(f"{where} InvtRefundList[{i}]", line, _REFUND_LINE_FIELDS))
        for i, line in enumerate(nodes, 1)
    )
    # The returned lines are a subset of the list's: any numbers, but each at most once.
    gnums = [line.gnum for line in lines]
    if len(set(gnums)) != len(gnums):
        raise CebRejected(f"{where} InvtRefundList: the same gnum twice")
    return ListRequest(**values, lines=lines)  # type: ignore[arg-type]


def _request_return(kind: str) -> Callable[[Element, str], RequestReturn]:
    def parse(node: Element, where: str) -> RequestReturn:
        return RequestReturn(kind=kind, **_receipt_fields(_Fields(where, node, _RETURN_FIELDS)))  # type: ignore[arg-type]

    return parse


def _tax_line(f: _Fields) -> TaxLine:
    return TaxLine(
        gnum=f.gnum(),
        gcode=f.optional_code("gcode", 10),
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
        invt_no=f.number18("invtNo", required=True),  # type: ignore[arg-type]
        tax_no=f.text("taxNo", 50),
        customs_tax=f.decimal("customsTax"),
        value_added_tax=f.decimal("valueAddedTax"),
        consumption_tax=f.decimal("consumptionTax"),
        status=f.converted("status", _to_tax_status, "1, 2 or 3"),
        ent_duty_no=f.optional("entDutyNo", 50),
        note=f.optional("note", 1000),
        assure_code=f.optional("assureCode", 64),
        ebc_code=f.optional("ebcCode", 64),
        logistics_code=f.optional("logisticsCode", 64),
        agent_code=f.optional("agentCode", 18),
        customs_code=f.optional_code("customsCode", 4),
        order_no=f.optional("orderNo", 60),
        logistics_no=f.optional("logisticsNo", 60),
        lines=lines,
    )


def _parse_tax_status(node: Element, where: str) -> TaxStatus:
    f = _Fields(f"{where} TaxHeadStatus", _single_child(where, node, "TaxHeadStatus"), _TAX_STATUS_FIELDS)
    return TaxStatus(
        guid=f.guid(),
        return_time=f.return_time(),
        invt_no=f.number18("invtNo", required=True),  # type: ignore[arg-type]
        tax_no=f.text("taxNo", 50),
        status=f.converted("status", _to_tax_status, "1, 2 or 3"),
        ent_duty_no=f.optional("entDutyNo", 50),
        assure_code=f.optional("assureCode", 64),
    )


# msg type → (business node name, its parser)
_NODE_PARSERS: dict[str, tuple[str, Callable[[Element, str], CebItem]]] = {
    "CEB621": ("Inventory", _parse_inventory),
    "CEB622": ("InventoryReturn", _parse_return),
    "CEB623": ("InvtCancel", _parse_cancel),
    "CEB624": ("InvtCancelReturn", _request_return(CANCEL)),
    "CEB625": ("InvtRefund", _parse_refund),
    "CEB626": ("InvtRefundReturn", _request_return(REFUND)),
    "CEB816": ("Tax", _parse_tax_slip),
    "CEB818": ("Tax", _parse_tax_status),
}
# Every type parse_message reads; the root check refuses any other.
MESSAGE_TYPES: tuple[str, ...] = tuple(_NODE_PARSERS)
_ALL_NODE_NAMES = frozenset(name for name, _ in _NODE_PARSERS.values()) | _ENVELOPE


def _parse_root(root: Element) -> CebMessage:
    _, local = _split_tag(root.tag)
    msg_type = local[: -len("Message")]
    node_name, parse_node = _NODE_PARSERS[msg_type]
    where = f"{msg_type}Message"
    guid = _to_guid((root.get("guid") or "").strip())
    if guid is None:
        raise CebRejected(f"{where}: missing or invalid guid attribute (expected 36 characters without spaces)")
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
    data = _decode(data)
    root = _parse_xml(data, max_depth, max_elements)
    return _parse_root(root)
