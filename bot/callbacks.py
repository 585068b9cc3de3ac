"""The versioned ≤64-byte codec of view states carried in `callback_data`.

Every inline button carries the whole state of the screen it leads to (view, filters, page) plus
the binding tag of the user it was rendered for, so a button keeps working across restarts and on
any instance, and nothing about navigation lives in process memory::

    1.<tag>.<kind>[.<field>...]     e.g. 1.aZ3k9Q.t.2.d.1 = tax slips, status 2, last 30 days, page 2

- `1` is the format version; anything else is rejected, so a future format can coexist.
- `<tag>` is the binding tag: `[A-Za-z0-9]{6}`, random per binding (made by `storage.bindings.new_tag`), or `-` on
  buttons shown to users who are not bound (language choice, help, "bind here"). The handler
  compares it with the caller's CURRENT binding tag; a mismatch (button from before an unbind or a
  re-bind, or from someone else's chat) answers "this button has expired" and shows nothing.
  The tag is not an authorisation: every record is still re-checked against the caller's binding.
- Fields are `.`-separated ASCII. Numbers are lower-case base36 without leading zeros (ids, pages,
  day and month counts) or 4 decimal digits (years). Dates are days since 2000-01-01, months are
  months since 2000-01; both are limited to 2000-01-01 … 2099-12-31.
- Nested states (the list a detail goes back to, the list a calendar fills in) are encoded inline
  with their own kind letter, so "Back" restores the exact filters and page.
- Decoding is strict and canonical: `decode(encode(s, tag)) == (tag, s)`, and any string that
  decodes re-encodes to itself byte for byte. Everything else raises `BadCallback`.

Search terms do not fit: an order number may be 60 characters. `ClearanceList.search` therefore
holds only `fingerprint(term)` (6 base36 characters of a SHA-256); the handler stores the term
itself server-side per user, renders with it, and treats a fingerprint that does not match the
stored term as "search cleared" (another device/instance replaced it). Relative date presets
(last 30 days, last 3 months, this year) are stored as presets and resolved against "today" when
the list is queried (`DateFilter.resolve`), so an old button means the same thing tomorrow.

Over 400 lines: every view state's declaration (its fields and their wire codecs) is here on
purpose, beside the codec, so the wire format can be read — and reviewed — in one place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, ClassVar, Final, Protocol

from bot.domain import calculator, cbec, languages, notices
from bot.domain.records import (
    DateRange,
    ListFilter,
    TaxFilter,
)

VERSION: Final = "1"
SEP: Final = "."
MAX_BYTES: Final = 64  # Bot API: callback_data is 1-64 bytes
UNBOUND: Final = "-"
TAG_RE: Final = re.compile(r"[A-Za-z0-9]{6}")

EPOCH: Final = date(2000, 1, 1)
MIN_DATE: Final = EPOCH
MAX_DATE: Final = date(2099, 12, 31)
MIN_YEAR: Final = MIN_DATE.year
MAX_YEAR: Final = MAX_DATE.year
MAX_ID: Final = 2**63 - 1  # database BIGINT
MAX_PAGE: Final = 99_999
SEARCH_MAX_LEN: Final = 60
FINGERPRINT_LEN: Final = 6

_B36: Final = string.digits + string.ascii_lowercase
_B36_RE: Final = re.compile(r"0|[1-9a-z][0-9a-z]*")
_YEAR_RE: Final = re.compile(r"[1-9][0-9]{3}")
_FP_RE: Final = re.compile(r"[0-9a-z]{6}")


class BadCallback(ValueError):
    """callback_data that is not a canonical encoding of a valid state."""


def is_tag(tag: str) -> bool:
    return tag == UNBOUND or TAG_RE.fullmatch(tag) is not None


def normalize_term(text: str) -> str | None:
    """A typed search number, whitespace removed; None when empty, too long or not printable ASCII."""
    term = "".join(text.split())
    if not term or len(term) > SEARCH_MAX_LEN or not term.isascii() or not term.isprintable():
        return None
    return term


def fingerprint(term: str) -> str:
    """Short stand-in for a search term inside callback_data (the term itself stays server-side)."""
    n = int.from_bytes(hashlib.sha256(term.encode()).digest()[:8], "big") % 36**FINGERPRINT_LEN
    return _b36(n).rjust(FINGERPRINT_LEN, "0")


# ---------------------------------------------------------------- values


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise ValueError(what)


def _check_id(v: int) -> None:
    _check(type(v) is int and 1 <= v <= MAX_ID, "id out of range")


def _check_page(v: int) -> None:
    _check(type(v) is int and 0 <= v <= MAX_PAGE, "page out of range")


def _check_year(v: int) -> None:
    _check(type(v) is int and MIN_YEAR <= v <= MAX_YEAR, "year out of range")


def _check_date(d: date) -> None:
    _check(type(d) is date and MIN_DATE <= d <= MAX_DATE, "date out of range")


def add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    n = year * 12 + (month - 1) + delta
    return n // 12, n % 12 + 1


# Date filter presets. Values are stable: they are part of the wire format via _PRESET_CODES.
ALL: Final = "all"
LAST_30_DAYS: Final = "30d"
LAST_3_MONTHS: Final = "3m"
THIS_YEAR: Final = "year"
CUSTOM: Final = "custom"
PRESETS: Final = (ALL, LAST_30_DAYS, LAST_3_MONTHS, THIS_YEAR)


@dataclass(frozen=True)
class DateFilter:
    """A date filter: one of the presets, or a custom inclusive range (start ≤ end)."""

    preset: str = ALL
    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.preset == CUSTOM:
            _check(self.start is not None and self.end is not None, "custom range needs both ends")
            assert self.start is not None and self.end is not None
            _check_date(self.start)
            _check_date(self.end)
            _check(self.start <= self.end, "range ends before it starts")
        else:
            _check(self.preset in PRESETS, "unknown date preset")
            _check(self.start is None and self.end is None, "a preset has no dates")

    @classmethod
    def custom(cls, start: date, end: date) -> DateFilter:
        return cls(CUSTOM, start, end)

    def resolve(self, today: date) -> DateRange:
        """Concrete inclusive days for the query, relative presets measured back from `today`."""
        if self.preset == CUSTOM:
            return DateRange(self.start, self.end)
        if self.preset == LAST_30_DAYS:
            return DateRange(today - timedelta(days=29), today)
        if self.preset == LAST_3_MONTHS:
            y, m = add_months(today.year, today.month, -3)
            day = min(today.day, _month_len(y, m))
            return DateRange(date(y, m, day) + timedelta(days=1), today)
        if self.preset == THIS_YEAR:
            return DateRange(date(today.year, 1, 1), today)
        return DateRange()


def _month_len(year: int, month: int) -> int:
    y, m = add_months(year, month, 1)
    return (date(y, m, 1) - date(year, month, 1)).days


# ---------------------------------------------------------------- wire codes

# Values are stable: they are part of the wire format.
_TAX_STATUS_CODES: Final = {cbec.TAX_GENERATED: "1", cbec.TAX_SUMMARISED: "2", cbec.TAX_VOID: "3"}
_GROUP_CODES: Final = {cbec.IN_PROGRESS: "p", cbec.RELEASED: "r", cbec.REJECTED: "x"}
_PRESET_CODES: Final = {ALL: "a", LAST_30_DAYS: "d", LAST_3_MONTHS: "m", THIS_YEAR: "y"}
_LANG_CODES: Final = {x.lang: x.wire for x in languages.LANGUAGES}
_NOTIFY_CODES: Final = {switch.kind: switch.wire for switch in notices.SWITCHES}
ME: Final = "me"
NOT_ME: Final = "not_me"
_ANSWER_CODES: Final = {ME: "y", NOT_ME: "n"}
_UNIT_CODES: Final = {calculator.VOLUME: "l", calculator.WEIGHT: "g", calculator.PIECES: "p"}
_CATEGORY_CODES: Final = {key: key for key in calculator.BY_KEY}  # category keys are wire-safe already
EXPORT_TAX: Final = "tax"
EXPORT_CLEARANCE: Final = "clr"
CSV: Final = "csv"
PDF: Final = "pdf"
_EXPORT_CODES: Final = {EXPORT_TAX: "t", EXPORT_CLEARANCE: "c"}
_FORMAT_CODES: Final = {CSV: "c", PDF: "p"}
MAX_PRICE_FEN: Final = int(calculator.MAX_PRICE * 100)
MAX_MEASURE_CENTI: Final = int(calculator.MAX_MEASURE * 100)
_MAX_MONTH: Final = (MAX_YEAR - EPOCH.year + 1) * 12 - 1


def _b36(n: int) -> str:
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return "".join(reversed(out))


def _day(d: date) -> str:
    return _b36((d - EPOCH).days)


class _Reader:
    """The tokens after `<version>.<tag>`, read left to right by the field codecs."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.i = 0

    def next(self) -> str:
        if self.i >= len(self.tokens):
            raise BadCallback("too few fields")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def b36(self, hi: int, lo: int = 0) -> int:
        tok = self.next()
        if not _B36_RE.fullmatch(tok) or len(tok) > 13:
            raise BadCallback("bad number")
        n = int(tok, 36)
        if not lo <= n <= hi:
            raise BadCallback("number out of range")
        return n

    def day(self) -> date:
        return EPOCH + timedelta(days=self.b36((MAX_DATE - EPOCH).days))

    def state(self) -> State:
        cls = _BY_KIND.get(self.next())
        if cls is None:
            raise BadCallback("unknown view")
        return cls(**{name: codec.read(self) for name, codec in _wire_fields(cls)})


# ---------------------------------------------------------------- field codecs
#
# A state declares each field's codec once (`wire(...)`); encoding and decoding both follow from
# it. A codec writes a value as tokens and reads it back strictly: anything it would not write is
# BadCallback (or a ValueError from the state's own checks, which `decode` turns into one).


class Codec(Protocol):
    def write(self, value: Any) -> list[str]: ...
    def read(self, r: _Reader) -> Any: ...


@dataclass(frozen=True)
class _Year:
    def write(self, value: int) -> list[str]:
        return [str(value)]

    def read(self, r: _Reader) -> int:
        tok = r.next()
        if not _YEAR_RE.fullmatch(tok):
            raise BadCallback("bad year")
        return int(tok)


@dataclass(frozen=True)
class _Number:
    """Base36 in [lo, hi]; with `empty_zero`, 0 is written as an empty token (an absent amount)."""

    hi: int
    lo: int = 0
    empty_zero: bool = False

    def write(self, value: int) -> list[str]:
        return [""] if self.empty_zero and value == 0 else [_b36(value)]

    def read(self, r: _Reader) -> int:
        if self.empty_zero and r.peek() == "":
            r.next()
            return 0
        return r.b36(self.hi, self.lo)


@dataclass(frozen=True)
class _Code:
    """One of a closed set, by its wire code; `none` is the token for None when None is allowed."""

    table: Mapping[Any, str]
    none: str | None = None

    def write(self, value: Any) -> list[str]:
        if value is None:
            assert self.none is not None, "None where the wire format has no code for it"
            return [self.none]
        return [self.table[value]]

    def read(self, r: _Reader) -> Any:
        tok = r.next()
        if self.none is not None and tok == self.none:
            return None
        for value, code in self.table.items():
            if code == tok:
                return value
        raise BadCallback("unknown code")


@dataclass(frozen=True)
class _Bool:
    def write(self, value: bool) -> list[str]:
        return ["1" if value else "0"]

    def read(self, r: _Reader) -> bool:
        tok = r.next()
        if tok not in ("0", "1"):
            raise BadCallback("bad switch")
        return tok == "1"


@dataclass(frozen=True)
class _Dates:
    """A preset's letter, or a custom range `<first day>-<last day>`."""

    def write(self, value: DateFilter) -> list[str]:
        if value.preset == CUSTOM:
            assert value.start is not None and value.end is not None
            return [f"{_day(value.start)}-{_day(value.end)}"]
        return [_PRESET_CODES[value.preset]]

    def read(self, r: _Reader) -> DateFilter:
        tok = r.next()
        if "-" in tok:
            a, _, b = tok.partition("-")
            return DateFilter.custom(_Reader([a, b]).day(), _Reader([b]).day())
        return DateFilter(_Code(_PRESET_CODES).read(_Reader([tok])))


@dataclass(frozen=True)
class _Day:
    """A day, or an empty token for None."""

    def write(self, value: date | None) -> list[str]:
        return [""] if value is None else [_day(value)]

    def read(self, r: _Reader) -> date | None:
        if r.peek() == "":
            r.next()
            return None
        return r.day()


@dataclass(frozen=True)
class _Month:
    """(year, month) as months since 2000-01."""

    def write(self, value: tuple[int, int]) -> list[str]:
        return [_b36((value[0] - EPOCH.year) * 12 + value[1] - 1)]

    def read(self, r: _Reader) -> tuple[int, int]:
        n = r.b36(_MAX_MONTH)
        return (EPOCH.year + n // 12, n % 12 + 1)


@dataclass(frozen=True)
class _Fingerprint:
    """A search-term fingerprint, or an empty token for no search."""

    def write(self, value: str | None) -> list[str]:
        return [value or ""]

    def read(self, r: _Reader) -> str | None:
        tok = r.next()
        if tok and not _FP_RE.fullmatch(tok):
            raise BadCallback("bad fingerprint")
        return tok or None


@dataclass(frozen=True)
class _Nested:
    """Another state, inline with its own kind letter (the list a detail goes back to)."""

    allowed: tuple[type[State], ...]

    def write(self, value: State) -> list[str]:
        return _fields(value)

    def read(self, r: _Reader) -> State:
        s = r.state()
        if not isinstance(s, self.allowed):
            raise BadCallback("wrong nested view")
        return s


YEAR: Final = _Year()
PAGE: Final = _Number(MAX_PAGE)
ID: Final = _Number(MAX_ID, 1)
DATES: Final = _Dates()
_WIRE: Final = "wire"


def wire(codec: Codec, **options: Any) -> Any:
    """A state's field and how it goes on the wire (`dataclasses.field` options pass through)."""
    return field(metadata={_WIRE: codec}, **options)


def nested(*allowed: type[State], **options: Any) -> Any:
    return wire(_Nested(allowed), **options)


# ---------------------------------------------------------------- states

_KINDS: Final[dict[type[State], str]] = {}  # state class → its kind letter (registered below)
_BY_KIND: Final[dict[str, type[State]]] = {}


class State:
    """Base of every view state. A subclass names its kind letter (`class Quota(State, kind="q")`)
    and declares its fields with `wire(...)`; that declaration is the whole wire format. `order`
    lists the fields in wire order where it differs from declaration order."""

    __slots__ = ()
    _wire_order: ClassVar[tuple[str, ...] | None] = None

    def __init_subclass__(cls, kind: str, order: tuple[str, ...] | None = None, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if len(kind) != 1 or not kind.isascii() or not kind.isalpha() or kind in _BY_KIND:
            raise TypeError(f"{cls.__name__}: kind {kind!r} must be one unused ASCII letter")
        _KINDS[cls] = kind
        _BY_KIND[kind] = cls
        cls._wire_order = order


_SPECS: Final[dict[type[State], tuple[tuple[str, Codec], ...]]] = {}


def _wire_fields(cls: type[State]) -> tuple[tuple[str, Codec], ...]:
    """(name, codec) of a state's fields in wire order, from its declaration (checked once)."""
    spec = _SPECS.get(cls)
    if spec is None:
        spec = _SPECS[cls] = _declared_fields(cls)
    return spec


def _declared_fields(cls: type[State]) -> tuple[tuple[str, Codec], ...]:
    declared = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    order = cls._wire_order or tuple(declared)
    if set(order) != set(declared):
        raise TypeError(f"{cls.__name__}: wire order {order} does not list its fields {tuple(declared)}")
    for name in order:
        if _WIRE not in declared[name].metadata:
            raise TypeError(f"{cls.__name__}.{name} has no wire codec")
    return tuple((name, declared[name].metadata[_WIRE]) for name in order)


@dataclass(frozen=True)
class Noop(State, kind="n"):
    """Buttons that do nothing (calendar blanks and headers, the pager's page label)."""


@dataclass(frozen=True)
class Menu(State, kind="m"):
    pass


@dataclass(frozen=True)
class Help(State, kind="h"):
    pass


@dataclass(frozen=True)
class Privacy(State, kind="p"):
    pass


@dataclass(frozen=True)
class BindStart(State, kind="b"):
    """Start (or restart) the in-chat binding flow: name → ID number → phone."""


@dataclass(frozen=True)
class BindCancel(State, kind="B"):
    pass


@dataclass(frozen=True)
class Quota(State, kind="q"):
    year: int = wire(YEAR)

    def __post_init__(self) -> None:
        _check_year(self.year)


@dataclass(frozen=True)
class QuotaDetails(State, kind="Q"):
    """The paged counted lists behind a year's consumed amount."""

    year: int = wire(YEAR)
    page: int = wire(PAGE, default=0)

    def __post_init__(self) -> None:
        _check_year(self.year)
        _check_page(self.page)


@dataclass(frozen=True)
class TaxList(State, kind="t"):
    # cbec.TAX_GENERATED / TAX_SUMMARISED / TAX_VOID; None = all
    status: int | None = wire(_Code(_TAX_STATUS_CODES, none="0"), default=None)
    dates: DateFilter = wire(DATES, default_factory=DateFilter)
    page: int = wire(PAGE, default=0)

    def __post_init__(self) -> None:
        _check(self.status is None or self.status in _TAX_STATUS_CODES, "unknown tax status")
        _check(isinstance(self.dates, DateFilter), "dates")
        _check_page(self.page)

    def to_filter(self, today: date) -> TaxFilter:
        return TaxFilter(status=self.status, dates=self.dates.resolve(today))

    @property
    def is_default(self) -> bool:
        return self.status is None and self.dates == DateFilter()


@dataclass(frozen=True)
class TaxDetail(State, kind="T"):
    id: int = wire(ID)
    back: TaxList = nested(TaxList, default_factory=TaxList)

    def __post_init__(self) -> None:
        _check_id(self.id)
        _check(isinstance(self.back, TaxList), "back")


@dataclass(frozen=True)
class ClearanceList(State, kind="c"):
    group: cbec.StatusGroup | None = wire(_Code(_GROUP_CODES, none="a"), default=None)  # None = all
    dates: DateFilter = wire(DATES, default_factory=DateFilter)
    page: int = wire(PAGE, default=0)
    search: str | None = wire(_Fingerprint(), default=None)  # fingerprint(term); the term is stored server-side

    def __post_init__(self) -> None:
        _check(self.group is None or self.group in _GROUP_CODES, "unknown status group")
        _check(isinstance(self.dates, DateFilter), "dates")
        _check_page(self.page)
        _check(self.search is None or _FP_RE.fullmatch(self.search) is not None, "fingerprint")

    def to_filter(self, today: date, term: str | None = None) -> ListFilter:
        """The query filter; `term` is the stored search term whose fingerprint is `search`."""
        number = term if self.search is not None and term is not None else None
        return ListFilter(group=self.group, dates=self.dates.resolve(today), number=number)

    @property
    def is_default(self) -> bool:
        return self.group is None and self.dates == DateFilter() and self.search is None


@dataclass(frozen=True)
class ClearanceDetail(State, kind="C"):
    id: int = wire(ID)
    back: ClearanceList | QuotaDetails = nested(ClearanceList, QuotaDetails, default_factory=ClearanceList)

    def __post_init__(self) -> None:
        _check_id(self.id)
        _check(isinstance(self.back, ClearanceList | QuotaDetails), "back")


@dataclass(frozen=True)
class ClearanceSearch(State, kind="f"):
    """Prompt for a typed pre-entry / list / order number; cancelling returns to `back`."""

    back: ClearanceList = nested(ClearanceList, default_factory=ClearanceList)

    def __post_init__(self) -> None:
        _check(isinstance(self.back, ClearanceList), "back")


@dataclass(frozen=True)
class Calendar(State, kind="k", order=("month", "start", "back")):
    """Custom date range picker for a list. No `start` yet: picking the start; else the end.

    A day button carries the resulting state: picking the start gives Calendar(start=day), picking
    the end gives `back` with the custom range and page 0; Cancel gives `back` unchanged.
    """

    back: TaxList | ClearanceList = nested(TaxList, ClearanceList)
    month: tuple[int, int] = wire(_Month())  # (year, month) shown
    start: date | None = wire(_Day(), default=None)

    def __post_init__(self) -> None:
        _check(isinstance(self.back, TaxList | ClearanceList), "back")
        _check(
            isinstance(self.month, tuple)
            and len(self.month) == 2
            and all(type(x) is int for x in self.month)
            and 1 <= self.month[1] <= 12,
            "month",
        )
        _check(MIN_YEAR <= self.month[0] <= MAX_YEAR, "month out of range")
        if self.start is not None:
            _check_date(self.start)

    @property
    def step(self) -> str:
        return "start" if self.start is None else "end"

    @property
    def target(self) -> str:
        return "tax" if isinstance(self.back, TaxList) else "clr"


@dataclass(frozen=True)
class Settings(State, kind="s"):
    pass


@dataclass(frozen=True)
class SetLanguage(State, kind="l"):
    lang: str = wire(_Code(_LANG_CODES))

    def __post_init__(self) -> None:
        _check(self.lang in _LANG_CODES, "unknown language")


@dataclass(frozen=True)
class SetNotify(State, kind="N"):
    """Switch one notification kind on or off. A target value (not a toggle), so a double tap
    or a redelivered callback cannot flip it back."""

    kind: str = wire(_Code(_NOTIFY_CODES))
    on: bool = wire(_Bool())

    def __post_init__(self) -> None:
        _check(self.kind in _NOTIFY_CODES, "unknown notification kind")
        _check(type(self.on) is bool, "on")


@dataclass(frozen=True)
class UnbindAsk(State, kind="u"):
    pass


@dataclass(frozen=True)
class UnbindConfirm(State, kind="U"):
    pass


@dataclass(frozen=True)
class Suspicious(State, kind="S"):
    """The answer to "Was this you?" on a suspicious declaration notice."""

    list_id: int = wire(ID)
    answer: str = wire(_Code(_ANSWER_CODES))  # ME / NOT_ME

    def __post_init__(self) -> None:
        _check_id(self.list_id)
        _check(self.answer in _ANSWER_CODES, "answer")


@dataclass(frozen=True)
class OpenTaxFromNotice(State, kind="o"):
    """The "Open tax slip" button under a notification: sends the detail as a new message."""

    id: int = wire(ID)

    def __post_init__(self) -> None:
        _check_id(self.id)


# -- calculator, chart, exports, copy of my data ---------------------------------------------------


@dataclass(frozen=True)
class Calc(State, kind="a"):
    """The calculator's category keyboard."""


@dataclass(frozen=True)
class CalcAsk(State, kind="i"):
    """Category chosen: waiting for the typed amount (the handler keeps this state with the user)."""

    cat: str = wire(_Code(_CATEGORY_CODES))

    def __post_init__(self) -> None:
        _check(self.cat in calculator.BY_KEY, "unknown category")


@dataclass(frozen=True)
class CalcResult(State, kind="r"):
    """An estimate: the category, the 完税价格 in fen and the measure in hundredths of its unit.
    The typed text becomes this state, so the answer is a pure render of it like every screen."""

    cat: str = wire(_Code(_CATEGORY_CODES))
    price_fen: int = wire(_Number(MAX_PRICE_FEN, 1))
    unit: str | None = wire(_Code(_UNIT_CODES, none=""), default=None)  # calculator.VOLUME / WEIGHT / PIECES
    amount: int = wire(_Number(MAX_MEASURE_CENTI, 1, empty_zero=True), default=0)  # hundredths of `unit`

    def __post_init__(self) -> None:
        _check(self.cat in calculator.BY_KEY, "unknown category")
        _check(type(self.price_fen) is int and 1 <= self.price_fen <= MAX_PRICE_FEN, "price out of range")
        _check(self.unit is None or self.unit in _UNIT_CODES, "unknown unit")
        _check(type(self.amount) is int, "amount")
        if self.unit is None:
            _check(self.amount == 0, "amount without a unit")
        else:
            _check(1 <= self.amount <= MAX_MEASURE_CENTI, "amount out of range")


@dataclass(frozen=True)
class QuotaChart(State, kind="g"):
    """📊 Chart on the quota screen: sends the year's chart as a photo."""

    year: int = wire(YEAR)

    def __post_init__(self) -> None:
        _check_year(self.year)


@dataclass(frozen=True)
class ExportMenu(State, kind="e"):
    """Pick the year and the format of an export of tax slips or clearance lists."""

    target: str = wire(_Code(_EXPORT_CODES))
    year: int = wire(YEAR)

    def __post_init__(self) -> None:
        _check(self.target in _EXPORT_CODES, "unknown export")
        _check_year(self.year)


@dataclass(frozen=True)
class ExportFile(State, kind="E"):
    """Send one export as a document (the menu it came from stays)."""

    target: str = wire(_Code(_EXPORT_CODES))
    year: int = wire(YEAR)
    fmt: str = wire(_Code(_FORMAT_CODES))

    def __post_init__(self) -> None:
        _check(self.target in _EXPORT_CODES, "unknown export")
        _check_year(self.year)
        _check(self.fmt in _FORMAT_CODES, "unknown format")


@dataclass(frozen=True)
class MyData(State, kind="d"):
    """What a copy of my data holds, with the button that sends it."""


@dataclass(frozen=True)
class MyDataSend(State, kind="D"):
    """Send the copy of my data (PDF + JSON); once a day."""


for _cls in _KINDS:  # every declaration is complete (fails at import, not at the first tap)
    _wire_fields(_cls)


# ---------------------------------------------------------------- encoding and decoding


def _fields(s: State) -> list[str]:
    """The state as tokens: its kind letter, then its fields (nested states inline)."""
    kind = _KINDS.get(type(s))
    if kind is None:
        raise TypeError(f"not a view state: {s!r}")
    out = [kind]
    for name, codec in _wire_fields(type(s)):
        out += codec.write(getattr(s, name))
    return out


def encode(state: State, tag: str) -> str:
    """callback_data for a button leading to `state`, for the binding identified by `tag`."""
    if not is_tag(tag):
        raise ValueError("binding tag must be 6 characters [A-Za-z0-9] or '-'")
    data = SEP.join([VERSION, tag, *_fields(state)])
    if not data.isascii() or len(data) > MAX_BYTES:  # a bug in this module, never user input
        raise ValueError(f"callback_data over {MAX_BYTES} bytes: {data!r}")
    return data


def decode(data: str | bytes) -> tuple[str, State]:
    """(tag, state) from callback_data; BadCallback for anything that `encode` would not produce."""
    try:
        if isinstance(data, bytes):
            raw = data
            text = data.decode("ascii")
        else:
            text = data
            raw = data.encode("utf-8")
    except UnicodeError as e:
        raise BadCallback("not ASCII") from e
    if not 1 <= len(raw) <= MAX_BYTES or not text.isascii():
        raise BadCallback("bad size or not ASCII")
    tokens = text.split(SEP)
    if len(tokens) < 3 or tokens[0] != VERSION:
        raise BadCallback("unknown version")
    tag = tokens[1]
    if not is_tag(tag):
        raise BadCallback("bad tag")
    reader = _Reader(tokens[2:])
    try:
        state = reader.state()
    except BadCallback:
        raise
    except (ValueError, OverflowError) as e:  # a state's own validation (impossible values)
        raise BadCallback(str(e)) from e
    if reader.i != len(reader.tokens):
        raise BadCallback("too many fields")
    return tag, state
