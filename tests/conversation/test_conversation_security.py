"""Security of the conversation, end to end (security.md §3, §8 checks 7–10 and 12): forged and
stale buttons, group chats, protect_content, double taps and late answers, personal data in logs."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from sqlalchemy import select

from bot import callbacks as cb
from bot.sandbox.client import SandboxClient
from bot.sandbox.methods import NOT_MODIFIED, QUERY_TOO_OLD
from storage.models import Inventory, LinkToken, TaxSlip
from tests.support.conversation import (
    AMOUNT_RE,
    EXPIRED_EN,
    EXPIRED_ZH,
    ID_RE,
    PHONE_RE,
    DemoDB,
    account_ids_with_records,
    bind_by_link,
    binding_of,
    button_data,
    demo_fixture,  # noqa: F401 (fixture)
    expired_answer,
    harness_fixture,  # noqa: F401 (fixture)
    identity_key_of,
    who,
)
from tests.support.harness import Harness

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)

SHOWS = ("sendMessage", "editMessageText", "editMessageReplyMarkup")


def shown(reaction: Any) -> list[Any]:
    return [c for c in reaction.calls if c.method in SHOWS and c.ok]


async def records_of(h: Harness, account: str) -> tuple[list[int], list[int], set[str]]:
    """(tax slip ids, list ids, every number a screen could show) of one identity."""
    key = await identity_key_of(h, account)
    async with h.db.read() as s:
        slips = list((await s.execute(select(TaxSlip).where(TaxSlip.identity_key == key))).scalars())
        lists = list((await s.execute(select(Inventory).where(Inventory.identity_key == key))).scalars())
    numbers = {s.tax_no for s in slips} | {x.pre_no for x in lists if x.pre_no}
    numbers |= {x.invt_no for x in lists if x.invt_no} | {x.order_no for x in lists}
    return [s.id for s in slips], [x.id for x in lists], numbers


async def two_people(h: Harness) -> tuple[SandboxClient, str, str]:
    """U (bound, English) and V's account (bound to nobody here)."""
    mine, theirs = (await account_ids_with_records(h))[:2]
    u = h.client(4001, "Uli", "en")
    await bind_by_link(h, u, mine)
    return u, mine, theirs


# ---------------------------------------------------------------- forged and stale buttons


async def test_another_persons_record_in_a_correctly_tagged_button_shows_nothing(h: Harness) -> None:
    u, _, theirs = await two_people(h)
    tag = (await binding_of(h, 4001)).tag  # type: ignore[union-attr]
    slip_ids, list_ids, numbers = await records_of(h, theirs)
    await u.send("/tax")
    forged = [
        cb.TaxDetail(slip_ids[0]),
        cb.TaxDetail(slip_ids[-1], cb.TaxList(page=1)),
        cb.OpenTaxFromNotice(slip_ids[0]),
        cb.ClearanceDetail(list_ids[0]),
        cb.ClearanceDetail(list_ids[-1], cb.QuotaDetails(2025)),
        cb.Suspicious(list_ids[0], cb.NOT_ME),
        cb.Suspicious(list_ids[0], cb.ME),
    ]
    for state in forged:
        before = len(u.messages())
        r = await u.tap_data(cb.encode(state, tag))
        assert expired_answer(r) and r.answer is not None and r.answer.show_alert, state
        assert shown(r) == [], state
        assert len(u.messages()) == before
    async with h.db.read() as s:
        inv = await s.get(Inventory, list_ids[0])
        assert inv is not None and inv.disputed_at is None and inv.confirmed_at is None
    assert h.services.rejections.get("callback_foreign") == len(forged)
    assert not any(n in m.text for m in u.messages() for n in numbers)


async def test_garbage_oversize_wrong_version_and_wrong_tag_are_expired(h: Harness) -> None:
    u, mine, _ = await two_people(h)
    tag = (await binding_of(h, 4001)).tag  # type: ignore[union-attr]
    other_tag = "Zz9Zz9" if tag != "Zz9Zz9" else "Yy8Yy8"
    await u.send("/tax")
    cases = [
        "hello",
        "",
        "1." + tag,
        "x" * 65,
        "1." + tag + ".t.0.a.0" + "0" * 60,  # oversize but otherwise well-formed
        "2." + tag + ".t.0.a.0",  # a future version
        "0." + tag + ".m",
        "1." + other_tag + ".t.0.a.0",  # someone else's (or an old) binding tag
        "1.-.t.0.a.0",  # the unbound tag on a view that needs a binding
        "1." + tag + ".t.0.a.01",  # non-canonical page
        "1." + tag + ".T.0.t.0.a.0",  # id 0
        "1." + tag + ".q.1999",
        "1." + tag + ".\u202e.m",
        "🙂" * 16,
    ]
    for data in cases:
        if not data:
            continue  # Telegram never sends an empty callback_data
        r = await u.tap_data(data)
        assert expired_answer(r), data
        assert shown(r) == [], data
    # The same views with a good tag work: the rejections above were about the data only.
    r = await u.tap_data(cb.encode(cb.TaxList(page=1), tag))
    assert r.answer is not None and r.answer.text is None and shown(r)
    assert "🧾 Tax slips" in u.visible_text() and mine


async def test_buttons_from_before_a_rebind_are_expired(h: Harness) -> None:
    u, _, theirs = await two_people(h)
    await u.send("/clearance")
    old_list = u.core.last_with_keyboard(u.chat_id)
    await u.send("/menu")
    old_menu = u.core.last_with_keyboard(u.chat_id)
    await bind_by_link(h, u, theirs)  # the same Telegram user, now another identity
    for message, label in ((old_list, "↺ Reset"), (old_menu, "🧾 Tax slips"), (old_list, "🔎 Find by number")):
        assert message is not None
        r = await u.tap(label, message=message)
        assert expired_answer(r) and shown(r) == [], label
    # A detail button from the old list, whose record belongs to the identity bound before.
    assert old_list is not None
    row = next(x for x in old_list.labels if x.startswith("1. "))
    r = await u.tap(row, message=old_list)
    assert expired_answer(r) and shown(r) == []


async def test_a_thousand_forged_and_mutated_callbacks_leak_nothing(h: Harness) -> None:
    """security.md §8 check 7: 1,000 forged or mutated callback_data values from U, including valid
    handles of V's records → no response contains V's data; each is answered and counted."""
    u, mine, theirs = await two_people(h)
    tag = (await binding_of(h, 4001)).tag  # type: ignore[union-attr]
    v_slips, v_lists, v_numbers = await records_of(h, theirs)
    pool: list[str] = []
    for cmd in ("/tax", "/clearance", "/quota", "/menu", "/settings"):
        await u.send(cmd)
        view = u.core.last_with_keyboard(u.chat_id)
        assert view is not None
        pool += [b["callback_data"] for row in view.buttons for b in row if "callback_data" in b]
    pool += [cb.encode(cb.TaxDetail(i), tag) for i in v_slips]
    pool += [cb.encode(cb.ClearanceDetail(i), tag) for i in v_lists]
    rng = random.Random(20261125)
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_"

    def mutate(data: str) -> str:
        chars = list(data)
        for _ in range(rng.randint(1, 3)):
            op = rng.choice(["flip", "drop", "insert", "truncate", "swap_id"])
            i = rng.randrange(max(len(chars), 1))
            if op == "flip" and chars:
                chars[i] = rng.choice(alphabet)
            elif op == "drop" and chars:
                del chars[i]
            elif op == "insert":
                chars.insert(i, rng.choice(alphabet))
            elif op == "truncate":
                del chars[i:]
            else:  # a valid handle of V's records with U's tag
                target = rng.choice([cb.TaxDetail(rng.choice(v_slips)), cb.ClearanceDetail(rng.choice(v_lists)),
                                     cb.OpenTaxFromNotice(rng.choice(v_slips)),
                                     cb.Suspicious(rng.choice(v_lists), cb.NOT_ME)])  # fmt: skip
                chars = list(cb.encode(target, tag))
        return "".join(chars) or "0"

    sent = answered = rejected_answers = 0
    leaks: list[str] = []
    for _ in range(1000):
        data = mutate(rng.choice(pool)) if rng.random() < 0.9 else "".join(rng.choices(alphabet, k=rng.randint(1, 80)))
        try:
            decoded_tag, state = cb.decode(data)
        except cb.BadCallback:
            decoded_tag, state = "", None
        if decoded_tag == tag and isinstance(state, cb.UnbindConfirm | cb.SetLanguage | cb.BindStart):
            continue  # U's own legitimate buttons that would end the session
        r = await u.tap_data(data)
        sent += 1
        answered += r.answer is not None
        rejected_answers += r.answer is not None and r.answer.text in (EXPIRED_EN, EXPIRED_ZH)
        for call in shown(r):
            text = str(call.params.get("text", ""))
            leaks += [n for n in v_numbers if n in text]
    assert sent > 900
    assert answered == sent  # every tap is answered
    assert leaks == []
    assert rejected_answers > sent // 2  # most mutations are rejected …
    assert sum(v for k, v in h.services.rejections.items() if k.startswith("callback_")) == rejected_answers
    async with h.db.read() as s:  # … and none changed V's records
        disputed = (await s.execute(select(Inventory.id).where(Inventory.id.in_(v_lists),
                                                               Inventory.disputed_at.is_not(None)))).all()  # fmt: skip
    assert disputed == []
    assert mine != theirs


# ---------------------------------------------------------------- group chats


async def test_group_chats_never_get_anything_personal(h: Harness, demo: DemoDB) -> None:
    u, mine, _ = await two_people(h)
    person = who(demo, mine)
    friend = h.client(4002, "Fritz", "en")
    await u.send("/tax")
    private_button = u.core.last_with_keyboard(u.chat_id)
    assert private_button is not None
    detail = next(b["callback_data"] for row in private_button.buttons for b in row if b["text"].startswith("1. "))
    group = await u.create_group("Family", members=(friend.user_id,))
    token = await h.link(mine)
    commands = ["/start", f"/start {token}", "/start@swbot_sandbox_bot", "/menu", "/quota", "/tax", "/clearance",
                "/settings", "/bind", "/unbind", "/privacy", "/help", "/menu@swbot_sandbox_bot"]  # fmt: skip
    for text in commands:
        await u.send(text, chat_id=group)
    for text in ("/start", "/quota", "/tax"):  # (few: python-telegram-bot paces 20 messages a minute per group)
        await friend.send(text, chat_id=group)
    await u.send(person.name, chat_id=group)  # plain text: the bot does not even see it (privacy mode)
    hint = u.last_message(group)
    assert hint is not None
    for data in (detail, button_data(private_button, "↺ Reset"), cb.encode(cb.Quota(2026), "-"), "junk"):
        r = await u.tap_data(data, message=hint, chat_id=group)
        assert expired_answer(r) and shown(r) == []
    bot_msgs = [m for m in u.messages(group) if m.from_bot]
    assert bot_msgs, "the group is told how to reach the bot privately"
    expected_hint = (
        "🔒 I only work in a private chat, so that your records stay private. "
        "Open a private chat with me and send /start."
    )
    for m in bot_msgs:
        assert m.text == expected_hint
        assert not ID_RE.search(m.text) and not PHONE_RE.search(m.text) and not AMOUNT_RE.search(m.text)
        assert person.name not in m.text and "¥" not in m.text
        assert [b.get("url") for row in m.buttons for b in row] == ["https://t.me/swbot_sandbox_bot"]
    group_calls = [c for c in h.core.calls() if str(c.params.get("chat_id")) == str(group)]
    assert {c.method for c in group_calls} == {"sendMessage"}
    # The deep link sent in the group did not bind anyone, and is still good in private.
    async with h.db.read() as s:
        row = (await s.execute(select(LinkToken).where(LinkToken.token_hash == h.vault.token_hash(token)))).scalar_one()
    assert row.used_at is None
    assert await binding_of(h, friend.user_id) is None
    await friend.send(f"/start {token}")
    assert await binding_of(h, friend.user_id) is not None


# ---------------------------------------------------------------- protect_content


async def test_every_private_message_is_protected_over_a_full_session(h: Harness, demo: DemoDB) -> None:
    account = (await account_ids_with_records(h))[0]
    person = who(demo, account)
    u = h.client(4003, "Pia", "en")
    await u.send("/start")
    await u.send("/bind")
    await u.send(person.name)
    await u.send(person.id_number)
    await u.share_contact(person.phone)
    for cmd, taps in (
        ("/quota", ["📋 Consumption details"]),
        ("/tax", ["Summarised", "↺ Reset", "▶"]),
        ("/clearance", ["Released", "↺ Reset"]),
        ("/help", ["🔒 Privacy"]),
        ("/settings", ["中文"]),
    ):
        await u.send(cmd)
        for label in taps:
            await u.tap(label)
    for label in ("🏠 菜单", "🧾 税单"):
        await u.tap(label)
    await u.tap(next(x for x in u.labels() if x.startswith("1. ")))
    sends = [c for c in h.core.calls("sendMessage") if c.params.get("chat_id") == u.chat_id]
    assert len(sends) > 10
    unprotected = [c.params.get("text", "")[:40] for c in sends if c.params.get("protect_content") is not True]
    assert unprotected == []
    assert all(m.protect_content for m in u.messages() if m.from_bot)


# ---------------------------------------------------------------- double taps and late answers


async def test_double_tap_message_not_modified_never_surfaces(h: Harness) -> None:
    u, _, _ = await two_people(h)
    await u.send("/tax")
    data = button_data(u.core.last_with_keyboard(u.chat_id), "▶")
    first = await u.tap_data(data)
    second = await u.tap_data(data)  # the same button again: identical content
    assert [c.ok for c in first.calls if c.method == "editMessageText"] == [True]
    # The tapped message already shows that screen: no edit is sent at all (Telegram would refuse
    # it as "not modified" and count it against the chat all the same).
    assert [c for c in second.calls if c.method == "editMessageText"] == []
    assert second.answer is not None and second.answer.text is None  # a normal answer, no alert
    assert [c.method for c in second.calls if c.method == "sendMessage"] == []
    # Telegram reporting it for another reason (an injected failure) is handled the same way.
    h.core.fail_next("editMessageText", error_code=400, description="Bad Request: " + NOT_MODIFIED)
    third = await u.tap("◀")
    assert third.answer is not None and third.answer.text is None
    assert [c.method for c in third.calls if c.method == "sendMessage"] == []
    assert "errors" not in h.services.rejections
    assert not any("Something went wrong" in m.text for m in u.messages())


async def test_query_too_old_never_surfaces(h: Harness) -> None:
    u, _, _ = await two_people(h)
    await u.send("/tax")
    h.core.fail_next("answerCallbackQuery", error_code=400, description="Bad Request: " + QUERY_TOO_OLD)
    r = await u.tap("▶")
    assert [c.ok for c in r.calls if c.method == "editMessageText"] == [True]  # the screen still changes
    assert "page 2/" in u.visible_text()
    # The real thing: the query's answer window has passed by the time the bot answers.
    h.core.callback_query_ttl = 0.0
    r = await u.tap("◀")
    answers = [c for c in r.calls if c.method == "answerCallbackQuery"]
    assert answers and not answers[0].ok and "query is too old" in (answers[0].description or "")
    assert "page 1/" in u.visible_text()
    r = await u.tap_data("garbage")  # a rejection whose answer is too late: nothing else happens
    assert shown(r) == []
    assert "errors" not in h.services.rejections
    assert [c.method for c in h.core.calls("sendMessage") if "Something went wrong" in str(c.params)] == []


# ---------------------------------------------------------------- logs


async def test_no_personal_data_in_logs_over_a_full_polling_session(h: Harness, demo: DemoDB, caplog: Any) -> None:
    """security.md §8 check 12, with the bot polling the stand-in as `swbot run` does."""
    caplog.set_level(logging.DEBUG)
    account, other = (await account_ids_with_records(h))[:2]
    person, someone = who(demo, account), who(demo, other)
    app = h.app
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        u = SandboxClient(h.core, 4004, "Quentin", "en", timeout=20)

        def showing(text: str) -> Any:  # explicit waits: a quiet moment can come early under load
            return lambda: text in u.visible_text()

        await u.send("/start", until=showing("👋 Welcome!"))
        await u.send("/bind", until=showing("Step 1 of 3"))
        await u.send(someone.name, until=showing("Step 2 of 3"))  # a failed attempt first
        await u.send(someone.id_number, until=showing("Step 3 of 3"))
        await u.share_contact(person.phone, until=showing("attempts left today"))  # not theirs
        await u.send("/bind", until=showing("Step 1 of 3"))
        await u.send(person.name, until=showing("Step 2 of 3"))
        await u.send(person.id_number.lower(), until=showing("Step 3 of 3"))
        await u.share_contact("+86 " + person.phone, until=showing("🏠 Main menu"))
        assert "✅ Bound" in "\n".join(m.text for m in u.messages())
        for cmd, heading in (("/quota", "💳 Annual quota"), ("/tax", "🧾 Tax slips"), ("/clearance", "📦 Clearance")):
            await u.send(cmd, until=showing(heading))
        await u.tap(next(x for x in u.labels() if x.startswith("1. ")), until=showing("📦 Clearance list"))
        await u.send("/settings", until=showing("⚙️ Settings"))
        await u.tap("🔔 New tax slip: on", until=showing("🔕 New tax slip"))
        await u.send("/clearance", until=showing("📦 Clearance"))
        await u.tap("🔎 Find by number", until=showing("Send the pre-entry number"))
        await u.send("B000000000000000", until=showing("Nothing found"))
        await u.tap_data("forged", until=u.made("answerCallbackQuery"))
        await u.send("/unbind", until=showing("🚫 Unbind?"))
        await u.tap("Yes, unbind", until=showing("✅ Unbound."))
    finally:
        await app.updater.stop()
        await app.stop()
    text = "\n".join(r.getMessage() + "\n" + (r.exc_text or "") for r in caplog.records)
    assert len(caplog.records) > 20 and any(r.levelno == logging.DEBUG for r in caplog.records)
    for secret in (person.name, someone.name, person.id_number, person.id_number.lower(), someone.id_number,
                   person.phone, someone.phone):  # fmt: skip
        assert secret not in text and secret not in caplog.text, "personal data in the log"
    assert not ID_RE.search(text) and not PHONE_RE.search(text)
    assert h.app.bot.token not in caplog.text
