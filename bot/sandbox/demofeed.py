"""The sandbox's demo people and its "a new tax slip arrives" generator.

``read_people`` reads the demo ``accounts.csv`` (the sandbox wrote it, so it may hold the plain
details: the web chat only ever shows them masked). ``new_tax_messages`` makes what a real feed
sends when a person's new order clears customs: a signed CEB621 import list, its CEB622 receipt 399
(海关审结) and the CEB816 tax slip, with taxes from ``bot.domain.cbec.line_tax``, written with the
project's one CEB writer (``bot.domain.cebxml``). The list copies the head (platform, seller,
carrier, customs site) of the person's own newest list from the demo feed, so the new order looks
like their others and raises no "suspicious record" warning.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from random import Random
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring

from bot.demo import NAMESPACE, PRODUCTS, Product
from bot.domain import cbec, cebxml
from bot.domain.identity import mask_id_number, mask_name, mask_phone, normalize_id_number, normalize_phone

NS = f"{{{NAMESPACE}}}"
ZERO = Decimal(0)
# Everyday goods well inside the single-order limit (no full-tax item, no HTML-hostile scenario name).
_KINDS = ("cosmetic", "milk", "health", "wine", "snack", "daily")
_MAX_UNIT_PRICE = 1600


@dataclass(frozen=True)
class Person:
    account_id: str
    name: str
    id_number: str  # normalised
    phone: str  # normalised (11 digits for a Chinese mobile)

    def public(self) -> dict[str, str]:
        """What the web chat may show."""
        return {
            "account_id": self.account_id,
            "name": mask_name(self.name),
            "id_number": mask_id_number(self.id_number),
            "phone": mask_phone(self.phone),
        }

    @property
    def contact_phone(self) -> str:
        """The phone as Telegram's app shares it: international digits without "+"."""
        return ("86" + self.phone) if not self.phone.startswith("+") else self.phone[1:]


def read_people(csv_path: Path) -> list[Person]:
    text = csv_path.read_bytes().decode("utf-8-sig")
    people = []
    for row in csv.DictReader(io.StringIO(text, newline="")):
        people.append(
            Person(
                account_id=row["account_id"].strip(),
                name=" ".join(row["name"].split()),
                id_number=normalize_id_number(row["id_number"]),
                phone=normalize_phone(row["phone"]),
            )
        )
    return people


# --------------------------------------------------------------------------- templates


def _text(parent: Element, tag: str) -> str:
    node = parent.find(NS + tag)
    return (node.text or "").strip() if node is not None else ""


def _values(node: Element, name: str) -> dict[str, str]:
    """A template node's fields, by the writer's schema names (what the template lacks is absent)."""
    return {tag: _text(node, tag) for tag in cebxml.FIELDS[name] if node.find(NS + tag) is not None}


def find_template(ceb_dir: Path, person: Person) -> tuple[Element, Element, bool]:
    """(Inventory element, BaseTransfer element, own) for the person's newest list; ``own`` is
    False when the person has no list yet and another person's list lends its head."""
    needles = {person.id_number.encode(), person.id_number.lower().encode()}
    best: tuple[str, Element, Element] | None = None
    fallback: tuple[Element, Element] | None = None
    for path in sorted(ceb_dir.glob("*CEB621*.xml")):
        data = path.read_bytes()
        mine = any(n in data for n in needles)
        if not mine and fallback is not None:
            continue
        root = fromstring(data)
        transfer = root.find(NS + "BaseTransfer")
        for inv in root.iter(NS + "Inventory"):
            head = inv.find(NS + "InventoryHead")
            if head is None or transfer is None:
                continue
            if fallback is None:
                fallback = (inv, transfer)
            if mine and normalize_id_number(_text(head, "buyerIdNumber")) == person.id_number:
                app_time = _text(head, "appTime")
                if best is None or app_time > best[0]:
                    best = (app_time, inv, transfer)
    if best is not None:
        return best[1], best[2], True
    if fallback is None:
        raise LookupError("the demo feed has no CEB621 list to copy")
    return fallback[0], fallback[1], False


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class NewTax:
    messages: list[tuple[str, bytes]]  # (message type, XML) in the order a feed delivers them
    invt_no: str
    tax_no: str
    total_tax: Decimal
    goods: list[str]


def _digits(rng: Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _letters_prefix(value: str, default: str) -> str:
    prefix = ""
    for ch in value:
        if not ch.isalpha():
            break
        prefix += ch
    return prefix or default


def _money(x: Decimal) -> str:
    return f"{x:.2f}"


def _pick_lines(rng: Random) -> list[tuple[Product, int, Decimal]]:
    choices = [p for p in PRODUCTS if p.kind in _KINDS and p.high <= _MAX_UNIT_PRICE]
    lines = []
    for product in rng.sample(choices, rng.choice((1, 1, 2, 2, 3))):
        qty = rng.choice((1, 1, 2)) if product.high < 600 else 1
        price = Decimal(rng.randint(product.low * 2, product.high * 2)) / 2  # whole or half yuan
        lines.append((product, qty, price.quantize(Decimal("0.01"))))
    return lines


def _signature(rng: Random) -> cebxml.Signature:
    """The shape of a 202205 (SM2/SM3) signature; not a real one (nothing verifies it)."""
    return cebxml.Signature(rng.randbytes(32), rng.randbytes(64), rng.randbytes(1100), f"{rng.getrandbits(32):08x}")


@dataclass(frozen=True)
class _Order:
    """A new order's signed CEB621 and what its later messages need of it."""

    inventory: bytes
    head: dict[str, str]
    lines: list[tuple[Product, int, Decimal]]
    invt_no: str


def _new_order(ceb_dir: Path, person: Person, now: datetime, rng: Random) -> _Order:
    template, transfer, _own = find_template(ceb_dir, person)
    head_node = template.find(NS + "InventoryHead")
    assert head_node is not None
    head = _values(head_node, "InventoryHead")
    customs = head.get("customsCode") or "2924"
    day = now.date()
    guid = str(uuid.uuid4()).upper()
    invt_no = f"{customs}{day.year}I{_digits(rng, 9)}"
    lines = _pick_lines(rng)
    net = sum((p.net_kg * qty for p, qty, _ in lines), ZERO).quantize(Decimal("0.001"))
    gross = (net * Decimal("1.15") + Decimal("0.2")).quantize(Decimal("0.001"))
    seller = head.get("ebcCode", "")
    head.update({
        "guid": guid, "appTime": cebxml.app_time(now), "appStatus": "2",
        "orderNo": rng.choice("23456789") + _digits(rng, max(len(head.get("orderNo", "")), 12) - 1),
        "logisticsNo": _letters_prefix(head.get("logisticsNo", ""), "SF") + _digits(rng, 13),
        "copNo": _letters_prefix(head.get("copNo", ""), "CP") + f"{day:%Y%m%d}" + _digits(rng, 6),
        "preNo": f"B{day:%Y%m%d}{_digits(rng, 9)}", "invtNo": invt_no, "declTime": cebxml.day(day),
        "ieDate": cebxml.day(day), "buyerIdType": "1", "buyerIdNumber": person.id_number,
        "buyerName": person.name, "buyerTelephone": person.phone, "freight": "0.00",
        "insuredFee": "0.00", "grossWeight": str(gross), "netWeight": str(net), "customsCode": customs,
    })  # fmt: skip
    trade_mode = head.get("tradeMode", "")
    goods: list[cebxml.Fields] = []
    for gnum, (p, qty, price) in enumerate(lines, 1):
        bar = "69" + _digits(rng, 11)
        goods.append({
            "gnum": gnum, "itemNo": f"{seller[-4:]}-{bar[-6:]}", "itemName": p.name, "gcode": p.gcode,
            "gname": p.name, "gmodel": p.gmodel, "barCode": bar, "country": p.country,
            "tradeCountry": "110" if trade_mode == "9610" else p.country, "currency": "142", "qty": qty,
            "unit": p.unit, "qty1": format((p.legal_qty * qty).normalize(), "f"), "unit1": p.legal_unit,
            "price": _money(price), "totalPrice": _money(price * qty), "note": "",
        })  # fmt: skip
    inventory = cebxml.message(
        "CEB621", guid, [cebxml.inventory(head, goods)],
        transfer=cebxml.base_transfer(_values(transfer, "BaseTransfer")), signature=_signature(rng),
        style=cebxml.Style(prefix="ceb"),
    )  # fmt: skip
    return _Order(inventory, head, lines, invt_no)


_ANSWER = cebxml.Style(standalone=True)


def _receipt(order: _Order, status: int, at: datetime, info: str) -> bytes:
    guid = str(uuid.uuid4())
    head = order.head
    node = cebxml.inventory_return({
        "guid": guid, "customsCode": head["customsCode"], "ebpCode": head.get("ebpCode"),
        "ebcCode": head.get("ebcCode"), "agentCode": head.get("agentCode"), "copNo": head["copNo"],
        "preNo": head["preNo"], "invtNo": order.invt_no if status >= 100 else None, "returnStatus": status,
        "returnTime": cebxml.return_time(at), "returnInfo": info,
    })  # fmt: skip
    return cebxml.message("CEB622", guid, [node], style=_ANSWER)


def new_tax_messages(ceb_dir: Path, person: Person, *, now: datetime, rng: Random | None = None) -> NewTax:
    """A new cleared order for ``person`` and its tax slip (see the module docstring)."""
    rng = rng or Random()
    order = _new_order(ceb_dir, person, now, rng)
    head, lines, invt_no = order.head, order.lines, order.invt_no
    day, customs, seller = now.date(), head["customsCode"], head.get("ebcCode", "")
    cleared = now + timedelta(seconds=rng.randint(20, 90))
    receipt = _receipt(order, 399, cleared, "[Code:2200;Desc:海关审结]")

    vat = cbec.vat_rate_on(day)
    taxes = []
    for gnum, (p, qty, price) in enumerate(lines, 1):
        total = price * qty
        tax = cbec.line_tax(total, tariff_rate=p.tariff, consumption_rate=p.consumption, vat_rate=vat,
                            within_limits=True)  # fmt: skip
        taxes.append((gnum, p, total, tax))
    tax_no = invt_no + "_0"
    tax_guid = str(uuid.uuid4())
    tax_head: dict[str, cebxml.Value] = {
        "guid": tax_guid, "returnTime": cebxml.return_time(cleared + timedelta(seconds=rng.randint(5, 40))),
        "invtNo": invt_no, "taxNo": tax_no,
        "customsTax": _money(sum((t.customs for *_, t in taxes), ZERO)),
        "valueAddedTax": _money(sum((t.vat for *_, t in taxes), ZERO)),
        "consumptionTax": _money(sum((t.consumption for *_, t in taxes), ZERO)),
        "status": cbec.TAX_GENERATED, "entDutyNo": "", "note": "", "assureCode": head.get("assureCode"),
        "ebcCode": seller, "logisticsCode": head.get("logisticsCode"), "agentCode": head.get("agentCode"),
        "customsCode": customs, "orderNo": head["orderNo"], "logisticsNo": head["logisticsNo"],
    }  # fmt: skip
    tax_lines: list[cebxml.Fields] = [
        {"gnum": gnum, "gcode": p.gcode, "taxPrice": _money(total), "customsTax": _money(tax.customs),
         "valueAddedTax": _money(tax.vat), "consumptionTax": _money(tax.consumption)}
        for gnum, p, total, tax in taxes
    ]  # fmt: skip
    total_tax = sum((t.customs + t.vat + t.consumption for *_, t in taxes), ZERO)
    return NewTax(
        messages=[
            ("CEB621", order.inventory),
            ("CEB622", receipt),
            ("CEB816", cebxml.message("CEB816", tax_guid, [cebxml.tax(tax_head, tax_lines)], style=_ANSWER)),
        ],
        invt_no=invt_no,
        tax_no=tax_no,
        total_tax=total_tax,
        goods=[p.name for p, _, _ in lines],
    )


# --------------------------------------------------------------------------- stories that ask for action

VERIFY = "verify"
CANCEL = "cancel"
STORIES = (VERIFY, CANCEL)
_VERIFY_INFO = (
    "挂起,向订购人发起交易真实性验核，请及时联系订购人在15天内登入“掌上海关”APP、微信小程序或“掌上单一窗口”APP完成验核"
)


@dataclass(frozen=True)
class Story:
    messages: list[tuple[str, bytes]]  # (message type, XML) in the order a feed delivers them
    invt_no: str
    goods: list[str]


def story_messages(ceb_dir: Path, person: Person, story: str, *, now: datetime, rng: Random | None = None) -> Story:
    """A new order for ``person`` that customs suspend for 交易真实性验核 (``VERIFY``: the
    "confirm this purchase" notice with its 15-day deadline), or that the seller cancels after
    customs assessed it (``CANCEL``: a signed CEB623 and its approving CEB624; "¥X of your quota
    is back")."""
    if story not in STORIES:
        raise ValueError(f"unknown story {story}")
    rng = rng or Random()
    order = _new_order(ceb_dir, person, now, rng)
    accepted = now + timedelta(seconds=rng.randint(20, 90))
    first = _receipt(order, 120, accepted, "[Code:1800;Desc:逻辑校验通过]")
    messages = [("CEB621", order.inventory), ("CEB622", first)]
    later = accepted + timedelta(seconds=rng.randint(20, 90))
    if story == VERIFY:
        messages.append(("CEB622", _receipt(order, 600, later, _VERIFY_INFO)))
    else:
        messages.append(("CEB622", _receipt(order, 399, later, "[Code:2200;Desc:海关审结]")))
        head, day = order.head, now.date()
        cop_no, pre_no = f"CX{day:%Y%m%d}{_digits(rng, 6)}", f"C{day:%Y%m%d}{_digits(rng, 9)}"
        asked = later + timedelta(seconds=rng.randint(20, 90))
        cancel_guid = str(uuid.uuid4()).upper()
        cancel: dict[str, cebxml.Value] = {name: head.get(name) for name in cebxml.FIELDS["InvtCancel"] if name in head}
        cancel.update({
            "guid": cancel_guid, "appType": "1", "appTime": cebxml.app_time(asked), "appStatus": "2",
            "copNo": cop_no, "preNo": "", "invtNo": order.invt_no, "reason": "消费者申请取消订单", "note": "",
        })  # fmt: skip
        messages.append(("CEB623", cebxml.message(
            "CEB623", cancel_guid, [cebxml.invt_cancel(cancel)], signature=_signature(rng),
            style=cebxml.Style(prefix="ceb"),
        )))  # fmt: skip
        approved = asked + timedelta(seconds=rng.randint(20, 90))
        answer_guid = str(uuid.uuid4())
        answer = cebxml.invt_cancel_return({
            "guid": answer_guid, "customsCode": head["customsCode"], "agentCode": head.get("agentCode"),
            "ebpCode": head.get("ebpCode"), "ebcCode": head.get("ebcCode"), "copNo": cop_no, "preNo": pre_no,
            "invtNo": order.invt_no, "returnStatus": 399, "returnTime": cebxml.return_time(approved),
            "returnInfo": f"[Code:2300;Desc:审核通过],撤单申请审核通过,清单[{order.invt_no}]已成功撤单",
        })  # fmt: skip
        messages.append(("CEB624", cebxml.message("CEB624", answer_guid, [answer], style=_ANSWER)))
    return Story(messages, order.invt_no, [p.name for p, _, _ in order.lines])
