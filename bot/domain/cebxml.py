"""The project's one CEB XML writer: pure functions from field values to message bytes.

Every message type swbot reads (CEB621–626, CEB816, CEB818) can be written, in the element order of
the official 202205 schema (reference/ceb-schema.md), in the styles real senders use: a default
namespace or the ``ceb:`` prefix, with or without an XML declaration (``standalone="yes"``, UTF-8 or
a GB encoding), and with an enveloped ``ds:Signature`` as the root's last child.

The signature is the right *shape* (SM2/SM3 as in the 202205 samples, or RSA-SHA1 as in 2018's),
filled with the bytes the caller gives: it is not a valid signature, and swbot never verifies one.

Field values are given as mappings from the schema's element names to ``str``, ``int`` or
``Decimal``; ``None`` leaves the element out, ``""`` writes an empty one (``<preNo></preNo>``, as
real senders do). A name the schema does not have for that node is a ``ValueError`` unless passed in
``extra`` (a test of forward compatibility). Dates and times are formatted by the callers with
``app_time``, ``day`` and ``return_time``.

Users: the demo data generator, the sandbox's feed and the tests.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

__all__ = [
    "DSIG",
    "FIELDS",
    "MESSAGE_TYPES",
    "NAMESPACE",
    "RSA_SHA1",
    "SM2_SM3",
    "Node",
    "Signature",
    "Style",
    "app_time",
    "base_transfer",
    "day",
    "decimal",
    "inventory",
    "inventory_return",
    "invt_cancel",
    "invt_cancel_return",
    "invt_refund",
    "invt_refund_return",
    "message",
    "return_time",
    "tax",
    "tax_status",
]

NAMESPACE = "http://www.chinaport.gov.cn/ceb"
DSIG = "http://www.w3.org/2000/09/xmldsig#"

# Element order of each node in the 202205 import schema (海关跨境进口业务节点报文定义202205.xsd).
FIELDS: dict[str, tuple[str, ...]] = {
    "InventoryHead": tuple(
        "guid appType appTime appStatus orderNo ebpCode ebpName ebcCode ebcName logisticsNo logisticsCode "
        "logisticsName copNo preNo assureCode emsNo invtNo ieFlag declTime customsCode portCode ieDate "
        "buyerIdType buyerIdNumber buyerName buyerTelephone consigneeAddress agentCode agentName areaCode "
        "areaName tradeMode trafMode trafNo voyageNo billNo loctNo licenseNo country freight insuredFee "
        "currency wrapType packNo grossWeight netWeight note".split()
    ),
    "InventoryList": tuple(
        "gnum itemRecordNo itemNo itemName gcode gname gmodel barCode country tradeCountry currency qty unit "
        "qty1 unit1 qty2 unit2 price totalPrice note".split()
    ),
    "InventoryReturn": tuple(
        "guid customsCode ebpCode ebcCode agentCode copNo preNo invtNo returnStatus returnTime returnInfo".split()
    ),
    "InvtCancel": tuple(
        "guid appType appTime appStatus customsCode orderNo ebpCode ebpName ebcCode ebcName logisticsNo "
        "logisticsCode logisticsName copNo preNo invtNo buyerIdType buyerIdNumber buyerName buyerTelephone "
        "agentCode agentName reason note".split()
    ),
    "InvtCancelReturn": tuple(
        "guid customsCode agentCode ebpCode ebcCode copNo preNo invtNo returnStatus returnTime returnInfo".split()
    ),
    "InvtRefundHead": tuple(
        "guid appType appTime appStatus customsCode orderNo ebpCode ebpName ebcCode ebcName logisticsNo "
        "logisticsCode logisticsName copNo preNo invtNo buyerIdType buyerIdNumber buyerName buyerTelephone "
        "agentCode agentName reason note".split()
    ),
    "InvtRefundList": tuple("gnum gcode gname qty unit note".split()),
    "InvtRefundReturn": tuple(
        "guid customsCode agentCode ebpCode ebcCode copNo preNo invtNo returnStatus returnTime returnInfo".split()
    ),
    "TaxHeadRd": tuple(
        "guid returnTime invtNo taxNo customsTax valueAddedTax consumptionTax status entDutyNo note assureCode "
        "ebcCode logisticsCode agentCode customsCode orderNo logisticsNo".split()
    ),
    "TaxListRd": tuple("gnum gcode taxPrice customsTax valueAddedTax consumptionTax".split()),
    "TaxHeadStatus": tuple("guid returnTime invtNo taxNo status entDutyNo assureCode".split()),
    "BaseTransfer": tuple("copCode copName dxpMode dxpId note".split()),
}
# The business node each message holds (621, 623 and 625 are the signed declarations).
_MESSAGES: dict[str, str] = {
    "CEB621": "Inventory",
    "CEB622": "InventoryReturn",
    "CEB623": "InvtCancel",
    "CEB624": "InvtCancelReturn",
    "CEB625": "InvtRefund",
    "CEB626": "InvtRefundReturn",
    "CEB816": "Tax",
    "CEB818": "Tax",
}
MESSAGE_TYPES: tuple[str, ...] = tuple(_MESSAGES)

SM2_SM3 = ("http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3", "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3")
RSA_SHA1 = ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1")
_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
# Python codec for each encoding name a declaration may carry.
_CODECS = {"UTF-8": "utf-8", "GB2312": "gb2312", "GBK": "gbk", "GB18030": "gb18030"}

Value = str | int | Decimal | None
Fields = Mapping[str, Value]


# --------------------------------------------------------------------------- formatting helpers


def day(d: date) -> str:
    """declTime / ieDate: 8 digits yyyyMMdd."""
    # Not strftime's %Y: glibc writes year 999 as "999", which makes a 7-digit date.
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def app_time(moment: datetime) -> str:
    """appTime: 14 digits yyyyMMddHHmmss."""
    return f"{day(moment)}{moment.hour:02d}{moment.minute:02d}{moment.second:02d}"


def return_time(moment: datetime) -> str:
    """returnTime: 17 digits yyyyMMddHHmmssSSS."""
    return f"{app_time(moment)}{moment.microsecond // 1000:03d}"


def decimal(x: Decimal, places: int | None = 2) -> str:
    """An amount as plain digits (never an exponent); `places=None` keeps the value's own."""
    value = x if places is None else x.quantize(Decimal(1).scaleb(-places))
    return format(value, "f")


def _text(value: Value) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise TypeError(f"field values are str, int or Decimal, not {type(value).__name__}")
    return format(value, "f") if isinstance(value, Decimal) else str(value)


# --------------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class Node:
    """One element: its text fields in schema order, then child nodes."""

    name: str
    fields: tuple[tuple[str, str], ...] = ()
    children: tuple[Node, ...] = ()


def _node(name: str, values: Fields, extra: Fields | None = None, children: Sequence[Node] = ()) -> Node:
    order = FIELDS[name]
    unknown = set(values) - set(order)
    if unknown:
        raise ValueError(f"{name} has no field {', '.join(sorted(unknown))}")
    pairs = [(k, _text(values[k])) for k in order if values.get(k) is not None]
    pairs += [(k, _text(v)) for k, v in (extra or {}).items() if v is not None]
    return Node(name, tuple(pairs), tuple(children))


def inventory(head: Fields, lines: Sequence[Fields], *, extra: Fields | None = None) -> Node:
    """CEB621 ``Inventory``: one InventoryHead and its InventoryList lines."""
    return Node(
        "Inventory", children=(_node("InventoryHead", head, extra), *(_node("InventoryList", ln) for ln in lines))
    )


def inventory_return(values: Fields, *, extra: Fields | None = None) -> Node:
    """CEB622 ``InventoryReturn``."""
    return _node("InventoryReturn", values, extra)


def invt_cancel(values: Fields, *, extra: Fields | None = None) -> Node:
    """CEB623 ``InvtCancel`` (撤销申请单)."""
    return _node("InvtCancel", values, extra)


def invt_cancel_return(values: Fields, *, extra: Fields | None = None) -> Node:
    """CEB624 ``InvtCancelReturn``."""
    return _node("InvtCancelReturn", values, extra)


def invt_refund(head: Fields, lines: Sequence[Fields], *, extra: Fields | None = None) -> Node:
    """CEB625 ``InvtRefund`` (退货申请单): InvtRefundHead and the returned lines."""
    return Node(
        "InvtRefund", children=(_node("InvtRefundHead", head, extra), *(_node("InvtRefundList", ln) for ln in lines))
    )


def invt_refund_return(values: Fields, *, extra: Fields | None = None) -> Node:
    """CEB626 ``InvtRefundReturn``."""
    return _node("InvtRefundReturn", values, extra)


def tax(head: Fields, lines: Sequence[Fields]) -> Node:
    """CEB816 ``Tax``: TaxHeadRd and TaxListRd lines."""
    return Node("Tax", children=(_node("TaxHeadRd", head), *(_node("TaxListRd", ln) for ln in lines)))


def tax_status(values: Fields) -> Node:
    """CEB818 ``Tax`` with one TaxHeadStatus."""
    return Node("Tax", children=(_node("TaxHeadStatus", values),))


def base_transfer(values: Fields) -> Node:
    return _node("BaseTransfer", values)


# --------------------------------------------------------------------------- signature


@dataclass(frozen=True)
class Signature:
    """An enveloped ``ds:Signature`` of the customs' shape. The bytes are the caller's (not a real
    signature); `reference` is the Reference URI ("" = the whole message, as CEB senders sign)."""

    digest: bytes
    value: bytes
    certificate: bytes
    key_name: str = "0001"
    algorithms: tuple[str, str] = SM2_SM3  # (SignatureMethod, DigestMethod)
    reference: str = ""

    def xml(self) -> str:
        def b64(raw: bytes) -> str:
            text = base64.b64encode(raw).decode("ascii")
            return "\n".join(text[i : i + 76] for i in range(0, len(text), 76))

        method, digest_method = self.algorithms
        return (
            f'<ds:Signature xmlns:ds="{DSIG}">\n<ds:SignedInfo>\n'
            f'<ds:CanonicalizationMethod Algorithm="{_C14N}"></ds:CanonicalizationMethod>\n'
            f'<ds:SignatureMethod Algorithm="{method}"></ds:SignatureMethod>\n'
            f"<ds:Reference URI={quoteattr(self.reference)}>\n<ds:Transforms>\n"
            f'<ds:Transform Algorithm="{_ENVELOPED}"></ds:Transform>\n</ds:Transforms>\n'
            f'<ds:DigestMethod Algorithm="{digest_method}"></ds:DigestMethod>\n'
            f"<ds:DigestValue>{base64.b64encode(self.digest).decode('ascii')}</ds:DigestValue>\n"
            f"</ds:Reference>\n</ds:SignedInfo>\n<ds:SignatureValue>\n{b64(self.value)}\n</ds:SignatureValue>\n"
            f"<ds:KeyInfo>\n<ds:KeyName>{escape(self.key_name)}</ds:KeyName>\n<ds:X509Data>\n"
            f"<ds:X509Certificate>\n{b64(self.certificate)}\n</ds:X509Certificate>\n</ds:X509Data>\n</ds:KeyInfo>\n"
            "</ds:Signature>"
        )


# --------------------------------------------------------------------------- documents


@dataclass(frozen=True)
class Style:
    """How a message is written. `encoding` is what the declaration says and, unless `codec`
    overrides it (a lying declaration, for tests), how the text is encoded."""

    prefix: str | None = None  # "ceb" → <ceb:CEB621Message xmlns:ceb=…>; None → default namespace
    declaration: bool = True
    encoding: str = "UTF-8"
    standalone: bool = False
    indent: str | None = "  "  # None: everything on one line
    version: str = "1.0"
    codec: str | None = None
    root_attributes: Mapping[str, str] = field(default_factory=dict)


def _render(node: Node, style: Style, depth: int, out: list[str]) -> None:
    tag = f"{style.prefix}:{node.name}" if style.prefix else node.name
    pad = "" if style.indent is None else style.indent * depth
    nl = "" if style.indent is None else "\n"
    inner = "" if style.indent is None else style.indent * (depth + 1)
    out.append(f"{pad}<{tag}>{nl}")
    for name, value in node.fields:
        field_tag = f"{style.prefix}:{name}" if style.prefix else name
        out.append(f"{inner}<{field_tag}>{escape(value)}</{field_tag}>{nl}")
    for child in node.children:
        _render(child, style, depth + 1, out)
    out.append(f"{pad}</{tag}>{nl}")


def message(
    msg_type: str,
    guid: str,
    nodes: Sequence[Node],
    *,
    transfer: Node | None = None,
    signature: Signature | str | None = None,
    style: Style = Style(),  # frozen: one shared default is safe
) -> bytes:
    """One ``CEBxxxMessage`` holding `nodes`, then BaseTransfer, then the signature.

    `signature` may also be raw XML text (a hostile one, for tests). Declarations (621/623/625)
    should carry a transfer and a signature, as the schema requires; nothing here insists.
    """
    if msg_type not in _MESSAGES:
        raise ValueError(f"unknown message type {msg_type}")
    node_name = _MESSAGES[msg_type]
    if any(node.name != node_name for node in nodes):
        raise ValueError(f"{msg_type} holds {node_name} nodes")
    nl = "" if style.indent is None else "\n"
    root = f"{style.prefix}:{msg_type}Message" if style.prefix else f"{msg_type}Message"
    xmlns = f'xmlns:{style.prefix}="{NAMESPACE}"' if style.prefix else f'xmlns="{NAMESPACE}"'
    attrs = "".join(f" {name}={quoteattr(value)}" for name, value in style.root_attributes.items())
    out: list[str] = []
    if style.declaration:
        standalone = ' standalone="yes"' if style.standalone else ""
        out.append(f'<?xml version="1.0" encoding="{style.encoding}"{standalone}?>\n')
    out.append(f"<{root} guid={quoteattr(guid)} version={quoteattr(style.version)} {xmlns}{attrs}>{nl}")
    for node in nodes:
        _render(node, style, 1, out)
    if transfer is not None:
        _render(transfer, style, 1, out)
    if signature is not None:
        text = signature.xml() if isinstance(signature, Signature) else signature
        out.append(("" if style.indent is None else style.indent) + text + nl)
    out.append(f"</{root}>{nl}")
    codec = style.codec or _CODECS.get(style.encoding.upper(), style.encoding)
    return "".join(out).encode(codec)
