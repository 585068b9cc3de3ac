"""The tax and quota calculator: the category keyboard, the amount prompt and the estimate.

Works before binding; once bound, the estimate also says how the order fits this year's quota.
"""

from __future__ import annotations

from decimal import Decimal

from bot import callbacks as cb
from bot.domain import calculator as calc
from bot.i18n import N_
from bot.views.common import Screen, bold, esc, line, money, screen
from bot.widgets import Ctx, chunk, markup, nav_row

LABELS: dict[str, str] = {
    "gen": N_("🍼 General goods"),
    "cos": N_("💄 Cosmetics"),
    "low": N_("📚 Books, edible oil, farm produce"),
    "jwl": N_("💎 Pearls, jade, gems"),
    "gld": N_("💍 Gold, platinum, diamonds"),
    "wch": N_("⌚ Watches"),
    "glf": N_("⛳ Golf equipment"),
    "win": N_("🍷 Wine and other alcohol"),
    "bee": N_("🍺 Beer"),
    "spi": N_("🥃 Baijiu and other spirits"),
    "bat": N_("🔋 Batteries, paints"),
}
assert set(LABELS) == set(calc.BY_KEY)

EXAMPLES: dict[str, str] = {
    "gen": N_("Milk powder, supplements, clothes, bags, electronics, ordinary cosmetics."),
    "cos": N_(
        "High-end cosmetics (from ¥10 per ml or g, or ¥15 per piece) pay a consumption tax of 15%; "
        "others none. Add the volume or weight, or the number of pieces: 680 30ml, 480 50g, 150 10片."
    ),
    "low": N_("These usually pay 9% VAT instead of 13%."),
    "jwl": N_("Consumption tax: 10%."),
    "gld": N_("Their consumption tax (5%) is levied at retail in China, so probably none at import."),
    "wch": N_("Type the price of one watch. From ¥10,000 a watch is a high-end watch (consumption tax 20%)."),
    "glf": N_("Consumption tax: 10%."),
    "win": N_("Consumption tax: 10%."),
    "bee": N_("Beer pays a consumption tax per ton. Add the total volume: 240 24x500ml, or 240 12L."),
    "spi": N_("20% plus ¥0.5 per 500 g (ml). Add the total quantity: 800 2x500ml, or 800 1kg."),
    "bat": N_("Consumption tax: 4%."),
}
HINT = N_("Type the price including freight and insurance (完税价格), for example 300 or 4950+60.")
ESTIMATE_NOTE = N_("An estimate from the published formulas; customs computes the real tax.")
ERRORS: dict[str, str] = {
    calc.NOT_A_PRICE: N_("⚠️ I could not read a price in that. Type a number in yuan, for example 300 or 4950+60."),
    calc.TOO_LARGE: N_("⚠️ That is more than this calculator handles."),
    calc.NEEDS_MEASURE: N_("⚠️ This kind of goods needs a quantity after the price, as in the example."),
    calc.WRONG_UNIT: N_("⚠️ I could not read the quantity. Use ml, l, g, kg or pieces (片), as in the example."),
}
UNITS: dict[str, str] = {calc.VOLUME: N_("ml"), calc.WEIGHT: N_("g"), calc.PIECES: N_("pieces")}


def label(ctx: Ctx, key: str) -> str:
    return ctx._(LABELS[key])


def calc_menu(ctx: Ctx) -> Screen:
    """The category keyboard (two per row)."""
    lines = [
        bold(ctx._("🧮 Tax and quota calculator")),
        ctx._("What would you like to buy? Pick the kind of goods, then type the price."),
        "",
        ctx._(
            "Within ¥5,000 per order and ¥26,000 a year, cross-border goods pay no customs duty, and VAT "
            "and consumption tax at 70%."
        ),
    ]
    buttons = [ctx.button(label(ctx, c.key), cb.CalcAsk(c.key)) for c in calc.CATEGORIES]
    rows = chunk(buttons, 2)
    rows.append(nav_row(ctx))
    return screen(lines, markup(rows))


def _ask_rows(ctx: Ctx) -> list:
    return [[ctx.button(ctx._("◀ Other goods"), cb.Calc())], nav_row(ctx)]


def calc_ask(ctx: Ctx, state: cb.CalcAsk, error: str | None = None) -> Screen:
    """The prompt for the amount (again, with what was wrong, after bad input)."""
    lines = [bold(esc(label(ctx, state.cat)))]
    if error is not None:
        lines += [ctx._(ERRORS[error]), ""]
    lines += [ctx._(HINT), ctx._(EXAMPLES[state.cat])]
    return screen(lines, markup(_ask_rows(ctx)))


def state_of(cat: str, price: Decimal, measure: calc.Measure | None) -> cb.CalcResult:
    """The typed input as a view state (fen, hundredths of the unit)."""
    if measure is None:
        return cb.CalcResult(cat, int(price * 100))
    return cb.CalcResult(cat, int(price * 100), measure.unit, int(measure.amount * 100))


def input_of(state: cb.CalcResult) -> tuple[calc.Category, Decimal, calc.Measure | None]:
    measure = None if state.unit is None else calc.Measure(state.unit, Decimal(state.amount) / 100)
    return calc.BY_KEY[state.cat], Decimal(state.price_fen) / 100, measure


def _measure_text(ctx: Ctx, e: calc.Estimate) -> str | None:
    if e.measure is None:
        return None
    amount = f"{ctx.t.number(e.measure.amount)} {ctx._(UNITS[e.measure.unit])}"
    if e.category.key != "cos":
        return amount
    per = money(ctx, (e.price / e.measure.amount).quantize(Decimal("0.01")))
    unit = ctx._(UNITS[e.measure.unit])
    return ctx._("{amount} ({price} per {unit})").format(amount=amount, price=per, unit=unit)


def calc_result(ctx: Ctx, state: cb.CalcResult, e: calc.Estimate, *, bound: bool) -> Screen:
    """Consumption tax, VAT and total (each to the fen), the comprehensive rate, the quota after
    the purchase (bound only) and plain warnings; "≈" marks a rate that is not confirmed."""
    _ = ctx._
    approx_ct = "≈ " if e.approximate_consumption else ""
    approx_vat = "≈ " if e.approximate_vat else ""
    at_least = _("at least {amount}") if e.at_least else "{amount}"
    lines = [bold(_("🧮 Estimate · {category}").format(category=esc(label(ctx, state.cat)))), ""]
    lines.append(line(ctx, _("Price incl. freight and insurance"), money(ctx, e.price)))
    measure = _measure_text(ctx, e)
    if measure:
        lines.append(line(ctx, _("Quantity"), measure))
    if e.luxury and e.category.key == "cos":
        lines.append(_("💄 High-end cosmetics: consumption tax 15%."))
    lines.append("")
    ct_rate = ctx.t.percent(e.consumption_rate)
    ct_label = _("Consumption tax ({rate})").format(rate=ct_rate) if not e.specific else _("Consumption tax")
    lines.append(line(ctx, ct_label, approx_ct + at_least.format(amount=money(ctx, e.consumption))))
    vat_label = _("VAT ({rate})").format(rate=ctx.t.percent(e.vat_rate))
    lines.append(line(ctx, vat_label, approx_vat + at_least.format(amount=money(ctx, e.vat))))
    approx_total = "≈ " if approx_ct or approx_vat else ""
    lines.append(bold(line(ctx, _("Total tax"), approx_total + at_least.format(amount=money(ctx, e.total)))))
    if e.rate is not None:
        lines.append(line(ctx, _("Comprehensive rate"), approx_total + ctx.t.percent(e.rate)))
    else:
        lines.append(_("No cross-border rate: outside the limits the full tax applies."))

    if e.quota is not None:
        q = e.quota
        lines += ["", bold(_("Quota {year}").format(year=q.year))]
        lines.append(line(ctx, _("Used so far"), money(ctx, q.used)))
        if q.refused:
            lines.append(
                _("After this order: still {used} — the order would be refused.").format(used=money(ctx, q.used))
            )
        else:
            lines.append(line(ctx, _("After this order"), money(ctx, q.after)))
            lines.append(line(ctx, _("Left"), money(ctx, q.available)))
    elif not bound:
        lines += ["", _("Bind your account to see how this order fits your annual quota.")]

    warnings = []
    for code in e.warnings:
        if code == calc.OVER_SINGLE:
            warnings.append(
                _(
                    "⚠️ Over the ¥5,000 single limit. One indivisible item is taxed in full as general trade: "
                    "customs duty plus the full VAT and consumption tax, not 70%. An order of several items "
                    "is refused. The amounts above leave out the customs duty, which depends on the goods."
                )
            )
        elif code == calc.LUXURY_WATCH:
            warnings.append(
                _(
                    "⌚ From ¥10,000 a watch is a high-end watch: a consumption tax of 20%, and it can only "
                    "come in alone at the full tax, never at the cross-border rate of 70%."
                )
            )
        elif code == calc.ANNUAL_REFUSED and e.quota is not None:
            q = e.quota
            warnings.append(
                _(
                    "⛔ Over the annual limit: {used} + {price} = {sum}, more than {limit}. Customs refuses the whole "
                    "order (code 1313); nothing of it is cleared, not even the part that would fit."
                ).format(
                    used=money(ctx, q.used), price=money(ctx, e.price), sum=money(ctx, q.used + e.price),
                    limit=money(ctx, q.limit),
                )
            )
        elif code == calc.VAT_UNCERTAIN:
            warnings.append(_("≈ The 9% VAT rate is not confirmed for every item of this kind; it may be 13%."))
        elif code == calc.CONSUMPTION_UNCERTAIN:
            warnings.append(
                _("≈ The consumption tax of this kind of goods is not confirmed; the amount is an estimate.")
            )
    if warnings:
        lines += ["", *warnings]
    lines += ["", _(ESTIMATE_NOTE)]
    rows = [
        [ctx.button(_("✏️ Another amount"), cb.CalcAsk(state.cat)), ctx.button(_("◀ Other goods"), cb.Calc())],
        nav_row(ctx),
    ]
    return screen(lines, markup(rows))
