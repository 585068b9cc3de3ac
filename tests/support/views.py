"""Records and helpers for the view tests: sample data and checks of a rendered Screen."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal as D
from html.parser import HTMLParser

from telegram import InlineKeyboardMarkup

from bot import callbacks as cb
from bot.domain import cbec
from bot.domain.records import (
    Holder,
    ListDetail,
    ListLine,
    ListRow,
    TaxDetail,
    TaxLine,
    TaxRow,
)
from bot.i18n import get_translator
from bot.views.common import MAX_TEXT, Screen, text_len
from bot.widgets import Ctx

TAG = "aZ3k9Q"
TODAY = date(2026, 3, 9)
LANGS = ("zh_CN", "en")
EVIL = "Tom & Jerry <Limited>"
EVIL_HTML = "Tom &amp; Jerry &lt;Limited&gt;"
ID_NUMBER = "11010519491231002X"
HOLDER = Holder.of("张三丰", ID_NUMBER)


def ctx(lang: str, tag: str = TAG) -> Ctx:
    return Ctx(get_translator(lang), tag, TODAY)


# ---------------------------------------------------------------- records


def list_row(i: int, **kw) -> ListRow:
    base = ListRow(
        id=i,
        pre_no=f"I20260{i:013d}",
        invt_no=f"2900{i:014d}",
        order_no=f"ORD-{i}",
        stored_at=datetime(2026, 3, 1, 10, 0),
        decl_date=date(2026, 3, 1),
        platform=EVIL,
        total=D("1234.5"),
        currency="142",
        status=800,
        group=cbec.RELEASED,
    )
    return replace(base, **kw)


def tax_row(i: int, **kw) -> TaxRow:
    base = TaxRow(i, f"TAX{i:010d}", f"2900{i:014d}", datetime(2026, 3, 2, 9, 30), D("43.05"), cbec.TAX_GENERATED)
    return replace(base, **kw)


TAX = TaxDetail(
    id=77,
    tax_no="290020261234567890",
    invt_no="29002026I000000001",
    order_no="ORD-<1>",
    platform=EVIL,
    status=cbec.TAX_SUMMARISED,
    stored_at=datetime(2026, 3, 2, 14, 5),
    ent_duty_no="PAY-42",
    customs_tax=D("0"),
    consumption_tax=D("15.75"),
    vat=D("27.30"),
    total=D("43.05"),
    lines=(
        TaxLine(
            1,
            "3304990099",
            D("2"),
            "142",
            D("50"),
            D("100"),
            D("0"),
            D("15.75"),
            D("27.30"),
            D("0"),
            D("0.15"),
            D("0.091"),
        ),
        TaxLine(2, None, None, None, None, D("10.01"), D("0"), D("0"), D("0.91"), None, None, None),
    ),
)


def list_line(n: int, **kw) -> ListLine:
    base = ListLine(n, f"{EVIL} 面霜 {n}", "3304990099", D("2"), "142", D("100"), D("200"), "142", "116")
    return replace(base, **kw)


DETAIL = ListDetail(
    id=9,
    pre_no="I20260000000000001",
    invt_no="29002026I000000001",
    order_no="ORD-1",
    platform=EVIL,
    platform_code="3301",
    company="Shop <b>Co</b>",
    logistics_name="顺丰速运",
    logistics_no="SF1234567890",
    decl_date=date(2026, 3, 1),
    stored_at=datetime(2026, 3, 1, 9, 0),
    status=800,
    status_time=datetime(2026, 3, 2, 11, 0),
    status_info="放行 & <ok>",
    group=cbec.RELEASED,
    customs_code="2900",
    port_code="2924",
    trade_mode="1210",
    freight=D("10"),
    insured_fee=D("1.5"),
    goods_value=D("200"),
    total=D("211.5"),
    currency="142",
    disputed=False,
    lines=(
        list_line(1),
        list_line(2, unit="035", qty=D("1.5"), currency="502", country="502", price=D("3.5"), total_price=D("5.25")),
    ),
)


# ---------------------------------------------------------------- checks applied to every screen

ALLOWED_TAGS = {"b", "i", "u", "s", "code", "pre", "a", "blockquote", "tg-spoiler"}
_BARE_AMP = re.compile(r"&(?!(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);)")


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        assert tag in ALLOWED_TAGS, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible(text: str) -> str:
    p = _Html()
    p.feed(text)
    p.close()
    assert not p.stack, f"unclosed {p.stack}"
    return "".join(p.text)


def check(screen: Screen, tag: str = TAG) -> Screen:
    """Valid Telegram HTML, within limits, and every button decodes for the right binding."""
    for part in screen.messages:
        assert part.strip()
        assert text_len(part) <= MAX_TEXT
        assert not _BARE_AMP.search(part), part
        shown = visible(part)
        assert EVIL not in part  # record data is never raw
        # no "<" from record data survives as markup: only our tags remain after parsing
        assert re.sub(r"</?(b|i|u|s|code|pre|a|blockquote|tg-spoiler)>", "", part).count("<") == 0
        assert len(shown) <= MAX_TEXT
    kb = screen.keyboard
    if isinstance(kb, InlineKeyboardMarkup):
        assert sum(len(r) for r in kb.inline_keyboard) <= 100
        for row in kb.inline_keyboard:
            assert 1 <= len(row) <= 8
            for b in row:
                assert b.text
                if b.url:
                    continue
                assert b.callback_data and len(b.callback_data.encode()) <= 64
                assert cb.decode(b.callback_data)[0] == tag
    return screen


def buttons(screen: Screen) -> dict[str, cb.State]:
    kb = screen.keyboard
    assert isinstance(kb, InlineKeyboardMarkup)
    return {b.text: cb.decode(b.callback_data)[1] for r in kb.inline_keyboard for b in r if b.callback_data}


def labels(screen: Screen) -> list[str]:
    kb = screen.keyboard
    assert isinstance(kb, InlineKeyboardMarkup)
    return [b.text for r in kb.inline_keyboard for b in r]


def no_plain_pii(screen: Screen) -> None:
    for part in screen.messages:
        assert ID_NUMBER not in part and "张三丰" not in part


try:  # the sandbox's Telegram HTML parser, when present, is a second, stricter opinion
    from bot.sandbox.tghtml import parse_html as _sandbox_parse
except ImportError:  # pragma: no cover
    _sandbox_parse = None


# ---------------------------------------------------------------- menu
