"""Binding, end to end through the Bot API stand-in: the deep link, the in-chat flow, the lock,
a restart mid-flow, moving an identity, /unbind and /privacy."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.domain.identity import make_id_number, mask_id_number, mask_name
from storage import links
from storage.models import BindFailure, Binding, LinkToken, Outbox, TgUser
from tests.support.conversation import (
    DemoDB,
    account_ids_with_records,
    account_without_records,
    all_text,
    bind_by_link,
    binding_of,
    demo_fixture,  # noqa: F401 (fixture)
    expired_answer,
    harness_fixture,  # noqa: F401 (fixture)
    who,
)
from tests.support.harness import Harness, start_harness, stop_harness

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)

MISMATCH = "❌ These details do not match a Single Window account."
LOCKED = "⛔ Too many attempts. Binding in this chat is locked until"


async def _two_accounts(h: Harness) -> tuple[str, str]:
    a, b = (await account_ids_with_records(h))[:2]
    return a, b


# ---------------------------------------------------------------- deep link


async def test_deep_link_binds_and_deletes_the_token_message(h: Harness, demo: DemoDB) -> None:
    account, _ = await _two_accounts(h)
    person = who(demo, account)
    c = h.client(1001, "Ann", "en")
    token = await h.link(account)
    r = await c.send(f"/start {token}")
    # The token message is gone from the chat, and the chat says who it is bound to, masked.
    user_msgs = [m for m in c.messages(include_deleted=True) if not m.from_bot]
    assert user_msgs[-1].text == f"/start {token}" and user_msgs[-1].deleted
    assert "deleteMessage" in r.methods()
    text = all_text(c)
    assert "✅ Bound" in text
    assert mask_name(person.name) in text and mask_id_number(person.id_number) in text
    assert person.name not in text and person.id_number not in text
    assert "🏠 Main menu" in c.visible_text()
    assert c.labels() == ["💳 Quota", "🧾 Tax slips", "📦 Clearance", "🧮 Calculator", "⚙️ Settings", "❓ Help"]
    b = await binding_of(h, 1001)
    assert b is not None and b.method == "link"
    # The same person opening the same link again (or Telegram delivering that update again after
    # a crash) keeps the binding and sees the menu, not an error.
    await c.send(f"/start {token}")
    assert "🏠 Main menu" in c.visible_text() and "already been used" not in c.visible_text()
    again = await binding_of(h, 1001)
    assert again is not None and (again.id, again.tag) == (b.id, b.tag)
    # The token is single use: a second /start with it from anyone else is refused.
    c2 = h.client(1002, "Bob", "en")
    await c2.send(f"/start {token}")
    assert "This binding link has already been used." in c2.visible_text()
    assert await binding_of(h, 1002) is None


async def test_expired_used_unknown_and_malformed_tokens_each_get_a_clear_message(h: Harness) -> None:
    account, other = await _two_accounts(h)
    c = h.client(1003, "Cat", "en")
    expired = await h.link(account)
    async with h.db.write() as s:
        await s.execute(
            update(LinkToken).where(LinkToken.token_hash == h.vault.token_hash(expired))
            .values(expires_at=h.db.clock.now() - timedelta(seconds=1))
        )  # fmt: skip
    used = await h.link(other)
    async with h.db.write() as s:
        assert (await links.redeem_token(s, h.vault, used, 42)).account_pk is not None
    cases = {
        expired: "⌛ This binding link has expired.",
        used: "This binding link has already been used.",
        "A" * 32: "❌ This binding link is not valid.",  # well-formed, never issued
        "short": "❌ This binding link is not valid.",
        "bad/chars+here=1234567890": "❌ This binding link is not valid.",
    }
    for token, expected in cases.items():
        r = await c.send(f"/start {token}")
        assert c.visible_text().splitlines()[0] == expected, token
        assert "Get a new link from the Single Window portal, or verify here instead." in c.visible_text()
        assert c.labels() == ["✍️ Verify here", "❓ Help"]
        assert "deleteMessage" in r.methods()  # a token never stays in the chat
    assert await binding_of(h, 1003) is None
    async with h.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Binding))).scalar_one() == 0


async def test_plain_start_shows_the_welcome_with_both_ways(h: Harness) -> None:
    c = h.client(1004, "Dan", "en")
    await c.send("/start")
    text = c.visible_text()
    assert "👋 Welcome!" in text and "Single Window" in text
    assert c.labels() == ["✍️ Verify here", "🌐 中文", "❓ Help", "🧮 Tax calculator"]
    for cmd in ("/quota", "/tax", "/clearance", "/settings", "/unbind"):
        await c.send(cmd)  # nothing personal before binding: the welcome again
        assert "👋 Welcome!" in c.visible_text(), cmd


# ---------------------------------------------------------------- in-chat flow


async def _flow(c, name: str, id_number: str) -> None:  # type: ignore[no-untyped-def]
    await c.send("/bind")
    assert "Step 1 of 3 · Name" in c.visible_text()
    await c.send(name)
    assert "Step 2 of 3 · ID number" in c.visible_text()
    await c.send(id_number)
    id_msg = [m for m in c.messages(include_deleted=True) if not m.from_bot and m.text == id_number]
    assert id_msg and id_msg[-1].deleted, "the ID number must not stay in the chat"


async def test_in_chat_binding_name_id_phone(h: Harness, demo: DemoDB) -> None:
    account, _ = await _two_accounts(h)
    person = who(demo, account)
    c = h.client(1010, "Eve", "en")
    await _flow(c, f"  {person.name} ", person.id_number.lower())  # spaces and a lower-case x are fine
    assert "Step 3 of 3 · Phone" in c.visible_text()
    keyboard = c.reply_keyboard()
    assert keyboard is not None
    assert keyboard[0][0] == {"text": "📱 Share my phone number", "request_contact": True}
    await c.share_contact("+86" + person.phone)  # Telegram's own spelling of the verified number
    assert "✅ Bound" in all_text(c) and "🏠 Main menu" in c.visible_text()
    assert c.reply_keyboard() is None  # the phone keyboard is removed
    b = await binding_of(h, 1010)
    assert b is not None and b.method == "chat"
    # Nothing the user typed is echoed back in full.
    assert person.id_number not in all_text(c) and person.phone not in all_text(c)


async def test_no_confirmation_before_the_binding_is_durable(h: Harness, demo: DemoDB) -> None:
    """The binding's commit fails (SQLite locked past its busy timeout): the person is told to try
    again, never "Bound", and nothing is bound; the same contact again then binds."""
    account, _ = await _two_accounts(h)
    person = who(demo, account)
    c = h.client(1018, "Mo", "en")
    await _flow(c, person.name, person.id_number)
    failed = []

    def locked_at_commit(session: Session) -> None:
        if not failed and any(isinstance(o, Binding) for o in [*session.new, *session.identity_map.values()]):
            failed.append(True)
            raise OperationalError("COMMIT", None, sqlite3.OperationalError("database is locked"))

    event.listen(Session, "before_commit", locked_at_commit)
    try:
        await c.share_contact(person.phone)
    finally:
        event.remove(Session, "before_commit", locked_at_commit)
    assert failed, "the binding's commit was not reached"
    assert "✅ Bound" not in all_text(c)
    assert c.visible_text() == "⏳ This is temporarily unavailable. Please try again in a moment."
    assert await binding_of(h, 1018) is None
    await c.share_contact(person.phone)
    assert "✅ Bound" in all_text(c) and await binding_of(h, 1018) is not None


async def test_each_flow_step_delivered_again_shows_where_the_person_stands(h: Harness, demo: DemoDB) -> None:
    """Telegram delivers an update again when its answer was lost (an instance killed after the
    step committed). The step is not taken twice: the name is not read as an ID number, a failed
    contact is not counted twice, and a contact that bound shows the menu."""
    account, other = await _two_accounts(h)
    person, someone = who(demo, account), who(demo, other)
    c = h.client(1019, "Ida", "en")
    await c.send("/bind")
    name = await c.send(person.name)
    again = await c.deliver(name.update)
    assert c.visible_text().startswith("Step 2 of 3 · ID number"), c.visible_text()
    assert "deleteMessage" not in again.methods()  # the name is not taken for an ID number
    id_msg = await c.send(person.id_number)
    await c.deliver(id_msg.update)
    assert c.visible_text().startswith("Step 3 of 3 · Phone"), c.visible_text()
    # A contact that did not match, delivered again: one failure counted, not two.
    wrong = await c.share_contact(someone.phone)
    assert MISMATCH in c.visible_text()
    await c.deliver(wrong.update)
    async with h.db.read() as s:
        failures = (await s.execute(select(func.count()).where(BindFailure.telegram_user_id == 1019))).scalar_one()
    assert failures == 1
    await c.send("/bind")
    for text in (person.name, person.id_number):
        await c.send(text)
    right = await c.share_contact(person.phone)
    b = await binding_of(h, 1019)
    assert b is not None and "✅ Bound" in all_text(c)
    await c.deliver(right.update)
    assert "🏠 Main menu" in c.visible_text()
    still = await binding_of(h, 1019)
    assert still is not None and (still.id, still.tag) == (b.id, b.tag)


async def test_no_write_lock_is_held_while_telegram_deletes_a_message(
    h: Harness, demo: DemoDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting the ID number or the link token is a network call: SQLite's write lock (taken at
    the update's first read) must not be held across it, or every other writer waits on Telegram."""
    import handlers.common

    account, _ = await _two_accounts(h)
    person = who(demo, account)
    writable = []
    delete = handlers.common.try_delete

    db_file = tmp_path / "swbot.db"
    assert db_file.exists() and h.db.is_sqlite  # the bot's own database file, probed from outside

    async def probing_delete(message):  # type: ignore[no-untyped-def]
        probe = sqlite3.connect(db_file, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")  # "database is locked" while the bot holds the lock
            probe.execute("ROLLBACK")
            writable.append(True)
        except sqlite3.OperationalError:
            writable.append(False)
        finally:
            probe.close()
        return await delete(message)

    monkeypatch.setattr(handlers.common, "try_delete", probing_delete)
    c = h.client(1020, "Jo", "en")
    await _flow(c, person.name, person.id_number)
    await c.send(f"/start {await h.link(account)}")
    assert writable == [True, True]


async def test_the_contact_must_be_the_senders_own(h: Harness, demo: DemoDB) -> None:
    account, _ = await _two_accounts(h)
    person = who(demo, account)
    c = h.client(1011, "Fay", "en")
    await _flow(c, person.name, person.id_number)
    for other in (None, 999):  # a contact card without a user, or someone else's
        await c.share_contact(person.phone, own=False, contact_user_id=other)
        assert "Please share your own number" in c.visible_text()
        assert await binding_of(h, 1011) is None
    await c.share_contact("86" + person.phone)  # still at the phone step: the own contact works
    assert await binding_of(h, 1011) is not None


async def test_a_failure_never_says_which_part_was_wrong(h: Harness, demo: DemoDB) -> None:
    account, other = await _two_accounts(h)
    person, someone = who(demo, account), who(demo, other)
    stranger_id = make_id_number("110105", date(1990, 1, 1), 123)
    attempts = {
        "name": (someone.name, person.id_number, person.phone),
        "id": (person.name, stranger_id, person.phone),
        "other's id": (person.name, someone.id_number, person.phone),
        "phone": (person.name, person.id_number, someone.phone),
    }
    texts = {}
    c = h.client(1012, "Gus", "en")
    for what, (name, id_number, phone) in attempts.items():
        await _flow(c, name, id_number)
        assert "Step 3 of 3 · Phone" in c.visible_text(), what  # an unknown ID is not revealed early
        await c.share_contact(phone)
        texts[what] = c.visible_text()
    # Same words every time (only the count of attempts left changes).
    stripped = {k: "\n".join(v.splitlines()[:2]) for k, v in texts.items()}
    assert len(set(stripped.values())) == 1, stripped
    assert stripped["name"].startswith(MISMATCH)
    lefts = [v.splitlines()[-1] for v in texts.values()]
    assert lefts == ["4 attempts left today.", "3 attempts left today.", "2 attempts left today.",
                     "1 attempt left today."]  # fmt: skip
    for v in texts.values():
        for word in ("name is", "ID number is", "phone is", "wrong"):
            assert word not in v
    assert await binding_of(h, 1012) is None


async def test_an_invalid_id_number_is_refused_without_counting_a_failure(h: Harness, demo: DemoDB) -> None:
    account, _ = await _two_accounts(h)
    person = who(demo, account)
    c = h.client(1013, "Hal", "en")
    await c.send("/bind")
    await c.send(person.name)
    bad = person.id_number[:-1] + ("0" if person.id_number[-1] != "0" else "1")  # wrong check digit
    await c.send(bad)
    assert "not a valid 18-character ID number" in c.visible_text()
    assert [m.deleted for m in c.messages(include_deleted=True) if m.text == bad] == [True]
    await c.send(person.id_number)
    assert "Step 3 of 3 · Phone" in c.visible_text()
    async with h.db.read() as s:
        assert (await s.execute(select(func.count()).where(BindFailure.telegram_user_id == 1013))).scalar_one() == 0


async def test_five_failures_lock_the_in_chat_flow_for_24_hours(h: Harness, demo: DemoDB) -> None:
    account, other = await _two_accounts(h)
    person, someone = who(demo, account), who(demo, other)
    c = h.client(1014, "Ivy", "en")
    for _ in range(5):
        await _flow(c, person.name, person.id_number)
        await c.share_contact(someone.phone)
    assert c.visible_text().startswith(LOCKED)
    assert "You can still bind with the link from the Single Window portal." in c.visible_text()
    async with h.db.read() as s:
        until = (await s.execute(select(TgUser.bind_locked_until).where(TgUser.telegram_user_id == 1014))).scalar_one()
    assert timedelta(hours=23, minutes=59) < until - h.db.clock.now() <= timedelta(hours=24)
    # Locked: even the right details cannot be tried, and the flow does not start.
    await c.send("/bind")
    assert c.visible_text().startswith(LOCKED)
    await c.send(person.name)
    assert "Step 2 of 3" not in c.visible_text()
    assert await binding_of(h, 1014) is None
    # Another Telegram user is not affected.
    d = h.client(1015, "Jay", "en")
    await _flow(d, person.name, person.id_number)
    await d.share_contact(person.phone)
    assert await binding_of(h, 1015) is not None
    # After 24 hours the flow opens again (the lock end is in the database).
    async with h.db.write() as s:
        await s.execute(
            update(TgUser)
            .where(TgUser.telegram_user_id == 1014)
            .values(bind_locked_until=h.db.clock.now() - timedelta(seconds=1))
        )
    await c.send("/bind")
    assert "Step 1 of 3 · Name" in c.visible_text()


async def test_the_deep_link_still_works_while_the_flow_is_locked(h: Harness, demo: DemoDB) -> None:
    account, other = await _two_accounts(h)
    person, someone = who(demo, account), who(demo, other)
    c = h.client(1016, "Kim", "en")
    for _ in range(5):
        await _flow(c, person.name, person.id_number)
        await c.share_contact(someone.phone)
    await bind_by_link(h, c, account)


async def test_failures_older_than_24_hours_do_not_count(h: Harness, demo: DemoDB) -> None:
    account, other = await _two_accounts(h)
    person, someone = who(demo, account), who(demo, other)
    c = h.client(1017, "Lou", "en")
    for _ in range(4):
        await _flow(c, person.name, person.id_number)
        await c.share_contact(someone.phone)
    async with h.db.write() as s:
        await s.execute(update(BindFailure).values(at=h.db.clock.now() - timedelta(hours=24, minutes=1)))
    await _flow(c, person.name, person.id_number)
    await c.share_contact(someone.phone)
    assert c.visible_text().splitlines()[-1] == "4 attempts left today."


async def test_cancel_leaves_the_flow(h: Harness, demo: DemoDB) -> None:
    account, _ = await _two_accounts(h)
    person = who(demo, account)
    c = h.client(1018, "Max", "en")
    await c.send("/bind")
    await c.send(person.name)
    r = await c.tap("✖ Cancel")
    assert "Binding cancelled." in c.visible_text()
    assert r.answer is not None and not r.answer.show_alert
    await c.send(person.id_number)  # no longer in the flow: not taken as an ID number
    assert "Step 3 of 3" not in c.visible_text()
    # The reply-keyboard Cancel at the phone step does the same.
    await _flow(c, person.name, person.id_number)
    await c.send("✖ Cancel")
    assert "Binding cancelled." in c.visible_text()
    assert c.reply_keyboard() is None


async def test_a_restart_mid_flow_resumes_from_the_database(tmp_path: Path, h: Harness, demo: DemoDB) -> None:
    account, _ = await _two_accounts(h)
    person = who(demo, account)
    c = h.client(1020, "Ned", "en")
    await _flow(c, person.name, person.id_number)
    assert "Step 3 of 3 · Phone" in c.visible_text()
    # The bot process ends; a new one starts on the same database (Telegram's side stays).
    core = h.core
    await h.app.shutdown()
    assert h.app.post_shutdown is not None
    await h.app.post_shutdown(h.app)
    h2 = await start_harness(tmp_path, core=core)
    try:
        c2 = h2.client(1020, "Ned", "en")
        await c2.share_contact(person.phone)
        assert "✅ Bound" in all_text(c2)
        assert await binding_of(h2, 1020) is not None
    finally:
        await stop_harness(h2)


# ---------------------------------------------------------------- one identity ↔ one Telegram user


async def test_a_new_verified_binding_moves_the_identity_and_tells_the_old_chat(h: Harness, demo: DemoDB) -> None:
    account, _ = await _two_accounts(h)
    person = who(demo, account)
    old = h.client(1030, "Oli", "en")
    await bind_by_link(h, old, account)
    await old.send("/tax")
    stale = old.core.last_with_keyboard(old.chat_id)
    assert stale is not None
    new = h.client(1031, "Pam", "zh-hans")
    await new.send("/bind")
    await new.send(person.name)
    await new.send(person.id_number)
    await new.share_contact(person.phone)
    assert await binding_of(h, 1031) is not None
    assert await binding_of(h, 1030) is None
    moved = old.last_message()
    assert moved is not None
    assert "🔁 Your Single Window binding has moved to another Telegram account." in moved.text
    assert person.id_number not in moved.text and mask_id_number(person.id_number) not in moved.text
    # The old chat's buttons show nothing now, and its commands need a binding again.
    r = await old.tap("🧾 Tax slips" if "🧾 Tax slips" in stale.labels else stale.labels[0], message=stale)
    assert expired_answer(r)
    assert not [c for c in r.calls if c.method in ("sendMessage", "editMessageText")]
    await old.send("/quota")
    assert "👋 Welcome!" in old.visible_text()
    async with h.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Binding))).scalar_one() == 1


async def test_one_telegram_user_holds_one_identity(h: Harness, demo: DemoDB) -> None:
    a, b = await _two_accounts(h)
    c = h.client(1032, "Quin", "en")
    await bind_by_link(h, c, a)
    first = await binding_of(h, 1032)
    # /bind while bound: unbind first.
    await c.send("/bind")
    assert "This chat is already bound to" in c.visible_text() and "unbind first" in c.visible_text()
    # A link for another identity replaces the binding: still one, now to b, with a new tag.
    await bind_by_link(h, c, b)
    second = await binding_of(h, 1032)
    assert first is not None and second is not None
    assert second.account_pk != first.account_pk and second.tag != first.tag
    async with h.db.read() as s:
        assert (await s.execute(select(func.count()).where(Binding.telegram_user_id == 1032))).scalar_one() == 1
    text = all_text(c)
    assert mask_name(who(demo, b).name) in c.visible_text() or mask_name(who(demo, b).name) in text


# ---------------------------------------------------------------- unbind and privacy


async def test_unbind_with_confirmation_deletes_binding_settings_and_pending_notifications(
    h: Harness, demo: DemoDB
) -> None:
    account, _ = await _two_accounts(h)
    c = h.client(1040, "Rae", "en")
    await bind_by_link(h, c, account)
    b = await binding_of(h, 1040)
    assert b is not None
    # A setting changed and a notification waiting.
    await c.send("/settings")
    await c.tap("🔔 New tax slip: on")
    async with h.db.write() as s:
        s.add(Outbox(dedupe_key="test:1", binding_id=b.id, kind="tax_new", payload={}))
    await c.send("/clearance")
    await c.tap("🔎 Find by number")
    await c.send("NOPE123")
    before_unbind = c.core.last_with_keyboard(c.chat_id)
    # /unbind asks first; Back keeps everything.
    await c.send("/unbind")
    assert "🚫 Unbind?" in c.visible_text()
    assert "Unbinding deletes the binding, your settings and pending notifications." in c.visible_text()
    await c.tap("◀ Back")
    assert "⚙️ Settings" in c.visible_text()
    assert await binding_of(h, 1040) is not None
    await c.send("/unbind")
    confirm = c.core.last_with_keyboard(c.chat_id)
    yes = await c.tap("Yes, unbind")
    assert "✅ Unbound." in c.visible_text()
    assert await binding_of(h, 1040) is None
    # The same tap delivered again (its answer lost after the unbinding committed): unbound, not
    # "this button has expired".
    again = await c.deliver(yes.update)
    answers = [x.params for x in again.calls if x.method == "answerCallbackQuery"]
    assert len(answers) == 1 and not answers[0].get("text") and not answers[0].get("show_alert"), answers
    assert [x.method for x in again.calls if x.method == "editMessageText"] == ["editMessageText"]
    assert confirm is not None and "✅ Unbound." in c.core.message(c.chat_id, confirm.message_id).text
    async with h.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Outbox))).scalar_one() == 0
        user = await s.get(TgUser, 1040)
        assert user is not None and user.search_term is None and user.awaiting is None
    # Buttons from before the unbind: nothing shown.
    assert before_unbind is not None
    r = await c.tap("↺ Reset", message=before_unbind)
    assert expired_answer(r) and r.answer is not None and r.answer.show_alert
    assert not [x for x in r.calls if x.method in ("sendMessage", "editMessageText")]
    # Binding again starts from the default settings.
    await bind_by_link(h, c, account)
    await c.send("/settings")
    assert "🔔 New tax slip: on" in c.labels()


async def test_unbind_when_not_bound_shows_the_welcome(h: Harness) -> None:
    c = h.client(1041, "Sam", "en")
    await c.send("/unbind")
    assert "👋 Welcome!" in c.visible_text()


async def test_privacy_says_what_is_stored_and_why(h: Harness, demo: DemoDB) -> None:
    c = h.client(1042, "Tia", "en")
    await c.send("/privacy")
    unbound = c.visible_text()
    for heading in ("🔒 Privacy", "What I store", "Why", "Who sees it", "How to delete it"):
        assert heading in unbound
    assert "/unbind" in unbound and "encrypted" in unbound
    account = await account_without_records(h)
    await bind_by_link(h, c, account)
    await c.send("/privacy")
    assert c.visible_text() == unbound  # the same statement for everyone: nothing personal in it
    await c.tap("◀ Back")
    assert "❓ Help" in c.visible_text()
