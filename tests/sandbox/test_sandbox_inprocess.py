"""A real python-telegram-bot Application driven in-process through the sandbox: the stand-in's
validation errors must reach the bot as the exceptions PTB raises for Telegram's."""

from __future__ import annotations

import datetime as dtm
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardMarkup
from telegram.error import BadRequest, Forbidden, RetryAfter, TimedOut
from telegram.ext import Application

from bot.sandbox.client import SandboxClient
from bot.sandbox.core import BotApiCore
from bot.sandbox.methods import NOT_MODIFIED, QUERY_TOO_OLD
from bot.sandbox.models import SandboxError
from tests.support.sandbox import in_process_app, ptb_message

USER = 501
# do_api_request on a method PTB has a shortcut for warns; here the raw call is the point.
pytestmark = pytest.mark.filterwarnings("ignore:Please use 'Bot.:telegram.warnings.PTBUserWarning")


@pytest.fixture
def core() -> BotApiCore:
    return BotApiCore()


@pytest.fixture
async def app(core: BotApiCore) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    application = in_process_app(core, read_timeout=0.5)
    async with application:
        yield application


@pytest.fixture
def client(core: BotApiCore, app: Application[Any, Any, Any, Any, Any, Any]) -> SandboxClient:
    return SandboxClient(core, USER, "Ann", deliver=app.process_update)


@pytest.fixture
def bot(app: Application[Any, Any, Any, Any, Any, Any]) -> Bot:
    return app.bot


def markup(data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data=data)]])


async def test_get_me_identity(bot: Bot) -> None:
    assert bot.username == "swbot_sandbox_bot"
    assert bot.id == 7_000_000_001


async def test_start_with_payload_renders_html_and_keyboard(client: SandboxClient, core: BotApiCore) -> None:
    reaction = await client.send("/start tok_123")
    assert reaction.methods() == ["sendMessage"]
    assert reaction.update is not None
    assert reaction.update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    msg = client.last_message()
    assert msg is not None
    assert msg.text == "Hello Ann\npayload: tok_123"
    assert msg.html == "Hello <b>Ann</b>\npayload: <code>tok_123</code>"
    assert {"type": "bold", "offset": 6, "length": 3} in msg.entities
    assert msg.protect_content is True
    assert client.labels() == ["2024", "2025", "Consumption details", "Portal"]
    assert msg.buttons[2] == ({"text": "Portal", "url": "https://www.singlewindow.cn/"},)


async def test_tap_answers_and_edits_in_place(client: SandboxClient) -> None:
    await client.send("/start")
    first = client.last_message()
    assert first is not None
    reaction = await client.tap("2025")
    assert reaction.methods() == ["answerCallbackQuery", "editMessageText"]
    assert reaction.answer is not None and reaction.answer.text is None
    after = client.last_message()
    assert after is not None
    assert after.message_id == first.message_id
    assert after.text == "Quota 2025"
    assert after.edited == 1
    assert "✓ 2025" in after.labels


async def test_tap_label_contains_and_missing(client: SandboxClient) -> None:
    await client.send("/start")
    reaction = await client.tap("Consumption")  # the one label containing it
    assert client.visible_text() == "Details"
    assert reaction.calls[-1].method == "editMessageText"
    # editMessageText without reply_markup removed the keyboard, as Telegram does.
    assert client.last_message().buttons == ()  # type: ignore[union-attr]
    with pytest.raises(AssertionError, match="no message with an inline keyboard"):
        await client.tap("2024")


async def test_tap_reports_visible_labels_when_absent(client: SandboxClient) -> None:
    await client.send("/start")
    with pytest.raises(AssertionError, match=r"no button labelled '2031'.*\['2024', '2025', 'Consumption details'"):
        await client.tap("2031")
    with pytest.raises(AssertionError, match="url button"):
        await client.tap("Portal")
    with pytest.raises(AssertionError, match="several buttons"):
        await client.tap("202")


async def test_double_tap_gets_not_modified(client: SandboxClient, app: Application[Any, Any, Any, Any, Any, Any],
                                            core: BotApiCore) -> None:
    await client.send("/start")
    await client.tap("2025")
    await client.tap("✓ 2025")
    assert app.bot_data["errors"] == [ptb_message(f"Bad Request: {NOT_MODIFIED}")]
    failed = [c for c in core.calls("editMessageText") if not c.ok]
    assert failed[0].error_code == 400
    assert failed[0].description == f"Bad Request: {NOT_MODIFIED}"


async def test_forged_callback_data_reaches_the_bot(client: SandboxClient, core: BotApiCore) -> None:
    await client.send("/start")
    msg = client.last_message()
    assert msg is not None
    with pytest.raises(SandboxError, match="no button with callback_data 'y:1999'"):
        core.user_tap(USER, client.chat_id, msg.message_id, "y:1999")
    reaction = await client.tap_data("y:1999")
    assert reaction.update is not None and reaction.update["callback_query"]["data"] == "y:1999"
    assert reaction.answer is not None
    assert reaction.answer.text == "This button has expired" and reaction.answer.show_alert


@pytest.mark.parametrize(("data", "ok"), [
    ("x" * 64, True),
    ("x" * 65, False),
    ("é" * 32, True),  # 64 bytes
    ("é" * 33, False),  # 33 characters but 66 bytes
    ("😀" * 16, True),  # 64 bytes
    ("😀" * 17, False),
    ("", False),
])
async def test_callback_data_limit_is_in_bytes(bot: Bot, client: SandboxClient, data: str, ok: bool) -> None:
    await client.send("/start")
    if ok:
        sent = await bot.send_message(USER, "pick", reply_markup=markup(data))
        assert sent.reply_markup is not None
        assert sent.reply_markup.inline_keyboard[0][0].callback_data == data
    else:
        with pytest.raises(BadRequest) as info:
            await bot.send_message(USER, "pick", reply_markup=markup(data))
        assert info.value.message == ptb_message("Bad Request: BUTTON_DATA_INVALID")


@pytest.mark.parametrize(("text", "ok"), [
    ("<b>" + "a" * 4096 + "</b>", True),
    ("<b>" + "a" * 4097 + "</b>", False),
    ("&lt;" * 4096, True),  # 16,384 characters of source, 4,096 after parsing
    ("<i>x</i>" + "&amp;" * 4095, True),
    ("😀" * 2048, True),  # 4,096 UTF-16 code units
    ("😀" * 2048 + "a", False),
    ("   " + "a" * 4096 + "\n\n", True),  # surrounding whitespace is trimmed before counting
])
async def test_text_limit_counts_after_html_parsing(bot: Bot, client: SandboxClient, text: str, ok: bool) -> None:
    await client.send("/start")
    if ok:
        sent = await bot.send_message(USER, text, parse_mode="HTML")
        assert len(sent.text.encode("utf-16-le")) // 2 <= 4096  # type: ignore[union-attr]
    else:
        with pytest.raises(BadRequest) as info:
            await bot.send_message(USER, text, parse_mode="HTML")
        assert info.value.message == ptb_message("Bad Request: message is too long")


async def test_edit_text_limit_has_the_edit_wording(bot: Bot, client: SandboxClient) -> None:
    await client.send("/start")
    msg = client.last_message()
    assert msg is not None
    with pytest.raises(BadRequest) as info:
        await bot.edit_message_text("a" * 4097, chat_id=USER, message_id=msg.message_id)
    assert info.value.message == ptb_message("Bad Request: MESSAGE_TOO_LONG")


@pytest.mark.parametrize(("text", "description"), [
    ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
    ("Tom & Jerry", 'Character "&" must be escaped as "&amp;" at byte offset 4'),
    ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
    ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ("价格<b", "Unclosed start tag at byte offset 6"),  # byte offsets count UTF-8 bytes
])
async def test_malformed_html_is_rejected(bot: Bot, client: SandboxClient, text: str, description: str) -> None:
    await client.send("/start")
    with pytest.raises(BadRequest) as info:
        await bot.send_message(USER, text, parse_mode="HTML")
    assert info.value.message == ptb_message(f"Bad Request: can't parse entities: {description}")


async def test_blocked_user_gets_403_and_membership_updates(
        client: SandboxClient, bot: Bot, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    await client.send("/start")
    reaction = await client.block()
    assert reaction.update is not None
    change = reaction.update["my_chat_member"]
    assert change["new_chat_member"] == {"user": change["new_chat_member"]["user"], "status": "kicked", "until_date": 0}
    assert app.bot_data["members"] == [(USER, "member", "kicked")]
    with pytest.raises(Forbidden) as info:
        await bot.send_message(USER, "news")
    assert info.value.message == "Forbidden: bot was blocked by the user"
    with pytest.raises(SandboxError, match="has blocked the bot"):
        await client.send("hello")
    await client.unblock()
    assert app.bot_data["members"][-1] == (USER, "kicked", "member")
    assert (await bot.send_message(USER, "news")).text == "news"


async def test_bot_cannot_write_first_or_to_unknown_chats(bot: Bot, core: BotApiCore) -> None:
    core.add_user(777, "Quiet")
    with pytest.raises(Forbidden) as info:
        await bot.send_message(777, "hi")
    assert info.value.message == "Forbidden: bot can't initiate conversation with a user"
    with pytest.raises(BadRequest) as info2:
        await bot.send_message(424242, "hi")
    assert info2.value.message == ptb_message("Bad Request: chat not found")


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_retry_after_is_the_real_envelope(bot: Bot, client: SandboxClient, core: BotApiCore) -> None:
    await client.send("/start")
    core.fail_next("sendMessage", error_code=429, retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(USER, "a")
    assert info.value.retry_after in (7, dtm.timedelta(seconds=7))
    failed = core.calls("sendMessage")[-1]
    assert (failed.ok, failed.error_code, failed.description) == (False, 429, "Too Many Requests: retry after 7")
    status, body = await core.request("sendMessage", {"chat_id": str(USER), "text": "b"})
    assert status == 200 and json.loads(body)["result"]["text"] == "b"  # only the next call failed


async def test_fault_for_one_chat_only(bot: Bot, core: BotApiCore) -> None:
    for uid in (1, 2):
        core.add_user(uid, "U")
        core.user_message(uid, "/start")
    core.fail_next("sendMessage", error_code=403, description="Forbidden: user is deactivated", chat_id=2)
    assert (await bot.send_message(1, "a")).text == "a"
    with pytest.raises(Forbidden, match="user is deactivated"):
        await bot.send_message(2, "a")
    assert (await bot.send_message(2, "a")).text == "a"


async def test_unknown_and_unimplemented_methods(bot: Bot) -> None:
    with pytest.raises(BadRequest) as info:
        await bot.do_api_request("fooBar")
    assert info.value.message == "Not Found: method not found"
    with pytest.raises(BadRequest, match="Method sendvideo is not implemented by the swbot sandbox"):
        await bot.do_api_request("sendVideo", api_kwargs={"chat_id": 1, "video": "x"})


async def test_required_parameters_come_from_the_spec(bot: Bot) -> None:
    with pytest.raises(BadRequest) as info:
        await bot.do_api_request("sendMessage", api_kwargs={"chat_id": 1})
    assert info.value.message == ptb_message("Bad Request: message text is empty")
    with pytest.raises(BadRequest, match='Parameter "action" is required'):
        await bot.do_api_request("sendChatAction", api_kwargs={"chat_id": 1})


async def test_edit_and_delete_missing_messages(bot: Bot, client: SandboxClient) -> None:
    await client.send("/start")
    msg = client.last_message()
    assert msg is not None
    with pytest.raises(BadRequest) as info:
        await bot.edit_message_text("x", chat_id=USER, message_id=999)
    assert info.value.message == ptb_message("Bad Request: message to edit not found")
    assert await bot.delete_message(USER, msg.message_id) is True
    assert client.last_message() is None
    assert client.messages(include_deleted=True)[-1].deleted
    with pytest.raises(BadRequest) as info:
        await bot.delete_message(USER, msg.message_id)
    assert info.value.message == ptb_message("Bad Request: message to delete not found")
    with pytest.raises(BadRequest) as info:
        await bot.edit_message_text("x", chat_id=USER, message_id=msg.message_id)
    assert info.value.message == ptb_message("Bad Request: message to edit not found")


async def test_bot_deletes_user_message_and_batch(bot: Bot, client: SandboxClient, core: BotApiCore) -> None:
    await client.send("110105199001010011")  # e.g. an ID number the bot must not leave in the chat
    user_msg = core.last_message(USER, from_bot=False)
    assert user_msg is not None
    assert await bot.delete_messages(USER, [user_msg.message_id, 999]) is True
    assert core.last_message(USER, from_bot=False) is None


async def test_edit_reply_markup_and_not_modified(bot: Bot, client: SandboxClient) -> None:
    await client.send("/start")
    msg = client.last_message()
    assert msg is not None
    new = markup("z")
    await bot.edit_message_reply_markup(USER, msg.message_id, reply_markup=new)
    assert client.labels() == ["b"]
    with pytest.raises(BadRequest) as info:
        await bot.edit_message_reply_markup(USER, msg.message_id, reply_markup=new)
    assert info.value.message == ptb_message(f"Bad Request: {NOT_MODIFIED}")


async def test_answer_callback_query_rules(bot: Bot, client: SandboxClient, core: BotApiCore) -> None:
    await client.send("/start")
    msg = client.last_message()
    assert msg is not None
    expected = ptb_message(f"Bad Request: {QUERY_TOO_OLD}")
    with pytest.raises(BadRequest) as info:
        await bot.answer_callback_query("12345")
    assert info.value.message == expected

    query_id = core.user_tap(USER, USER, msg.message_id, "y:2024")["callback_query"]["id"]
    with pytest.raises(BadRequest) as info:
        await bot.answer_callback_query(query_id, text="x" * 201)
    assert info.value.message == ptb_message("Bad Request: MESSAGE_TOO_LONG")
    assert await bot.answer_callback_query(query_id, text="x" * 200) is True
    with pytest.raises(BadRequest) as info:  # answered already
        await bot.answer_callback_query(query_id)
    assert info.value.message == expected

    late = core.user_tap(USER, USER, msg.message_id, "y:2024")["callback_query"]["id"]
    core.advance_time(15.5)
    with pytest.raises(BadRequest) as info:
        await bot.answer_callback_query(late)
    assert info.value.message == expected

    core.callback_query_ttl = 60
    recent = core.user_tap(USER, USER, msg.message_id, "y:2024")["callback_query"]["id"]
    core.advance_time(30)
    assert await bot.answer_callback_query(recent) is True


async def test_slow_call_times_out_but_takes_effect(bot: Bot, client: SandboxClient, core: BotApiCore) -> None:
    await client.send("/start")
    core.slow("sendMessage", 2.0, times=1)
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "late")  # read_timeout 0.5 s in the fixture
    assert client.visible_text() == "late"  # the ambiguous case: sent, but the bot saw a timeout
    assert (await bot.send_message(USER, "fast")).text == "fast"


async def test_contact_own_and_foreign_with_reply_keyboard(client: SandboxClient) -> None:
    await client.send("/phone")
    keyboard = client.reply_keyboard()
    assert keyboard == (({"text": "Share my phone", "request_contact": True},),)
    await client.share_contact("8613800138000")
    assert client.visible_text() == "own: 8613800138000"
    assert client.reply_keyboard() is None  # ReplyKeyboardRemove
    await client.share_contact("8613900139000", own=False, contact_user_id=999)
    assert client.visible_text() == "not yours: 8613900139000"


async def test_message_with_reply_keyboard_cannot_be_edited(bot: Bot, client: SandboxClient) -> None:
    await client.send("/phone")
    msg = client.last_message()
    assert msg is not None and msg.reply_keyboard is not None
    with pytest.raises(BadRequest, match="can't be edited"):
        await bot.edit_message_text("changed", chat_id=USER, message_id=msg.message_id)


async def test_invalid_markups(bot: Bot, client: SandboxClient) -> None:
    await client.send("/start")
    bad_inline = [
        ({"inline_keyboard": [[{"text": "a"}]]}, "Text buttons are unallowed in the inline keyboard"),
        ({"inline_keyboard": [[{"text": "", "callback_data": "a"}]]}, "Text must be non-empty"),
        ({"inline_keyboard": [[{"text": "a", "callback_data": "a", "url": "https://x.y"}]]}, "exactly one"),
        ({"keyboard": [[{"text": "a", "request_contact": True, "request_location": True}]]}, "at most one"),
        ({"remove_keyboard": False}, "must be true"),
        ({"foo": 1}, "can't parse reply keyboard markup JSON object"),
    ]
    for reply_markup, fragment in bad_inline:
        with pytest.raises(BadRequest) as info:
            await bot.do_api_request("sendMessage", api_kwargs={"chat_id": USER, "text": "t",
                                                                "reply_markup": reply_markup})
        assert fragment.lower() in info.value.message.lower(), reply_markup
    ok = await bot.send_message(USER, "t", reply_markup=ReplyKeyboardMarkup([["a", "b"]], resize_keyboard=True))
    assert ok.reply_markup is None  # Telegram echoes only inline keyboards


async def test_commands_descriptions_and_menu(bot: Bot, core: BotApiCore) -> None:
    from telegram import BotCommand, BotCommandScopeAllPrivateChats, MenuButtonCommands

    private = BotCommandScopeAllPrivateChats()
    assert await bot.set_my_commands([BotCommand("quota", "额度")], scope=private, language_code="zh")
    assert await bot.set_my_commands([BotCommand("quota", "Quota")])
    assert [c.description for c in await bot.get_my_commands(scope=private, language_code="zh")] == ["额度"]
    assert await bot.get_my_commands(scope=private) == ()
    assert core.commands({"type": "all_private_chats"}, "zh") == [{"command": "quota", "description": "额度"}]
    assert await bot.delete_my_commands(scope=private, language_code="zh")
    assert core.commands({"type": "all_private_chats"}, "zh") == []
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Quota", "x")])
    with pytest.raises(BadRequest, match='Language code "zh-hans" is invalid'):
        await bot.set_my_commands([BotCommand("quota", "x")], language_code="zh-hans")

    assert await bot.set_my_description("Quota, tax slips", language_code="en")
    assert (await bot.get_my_description("en")).description == "Quota, tax slips"
    assert await bot.set_my_short_description("短")
    assert (await bot.get_my_short_description("fr")).short_description == "短"  # falls back to the default
    with pytest.raises(BadRequest, match="too long"):
        await bot.set_my_short_description("x" * 121)
    assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert (await bot.get_chat_menu_button()).type == "commands"


async def test_get_chat_and_chat_action(bot: Bot, client: SandboxClient) -> None:
    await client.send("/start")
    chat = await bot.get_chat(USER)
    assert (chat.id, chat.type, chat.first_name) == (USER, "private", "Ann")
    assert await bot.send_chat_action(USER, "typing")
    with pytest.raises(BadRequest, match="Wrong parameter action"):
        await bot.do_api_request("sendChatAction", api_kwargs={"chat_id": USER, "action": "dancing"})


async def test_group_privacy_and_membership(bot: Bot, core: BotApiCore,
                                            app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    owner = SandboxClient(core, 601, "Owner", deliver=app.process_update)
    group = await owner.create_group("Family", with_bot=False)
    with pytest.raises(Forbidden, match="bot is not a member of the group chat"):
        await bot.send_message(group, "hi")
    joined = await owner.add_bot_to_group(group)
    assert [next(k for k in r.update or {} if k != "update_id") for r in joined] == ["my_chat_member", "message"]
    assert joined[1].update["message"]["new_chat_members"][0]["username"] == "swbot_sandbox_bot"  # type: ignore[index]
    assert app.bot_data["members"] == [(group, "left", "member")]
    plain = await owner.send("just chatting", chat_id=group)
    assert plain.update is None  # privacy mode: the bot does not see it
    command = await owner.send("/start@swbot_sandbox_bot", chat_id=group)
    assert command.methods() == ["sendMessage"]
    assert core.last_message(group) is not None
    other_bot = await owner.send("/start@some_other_bot", chat_id=group)
    assert other_bot.update is None
    await owner.remove_bot_from_group(group)
    assert app.bot_data["members"][-1] == (group, "member", "kicked")
    with pytest.raises(Forbidden, match="bot was kicked from the group chat"):
        await bot.send_message(group, "hi")


async def test_real_polling_through_in_process_request(core: BotApiCore) -> None:
    application = in_process_app(core)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        try:
            client = SandboxClient(core, USER, "Ann", quiet=0.05)  # no deliver: the bot polls
            reaction = await client.send("/start")
            assert reaction.methods() == ["sendMessage"]
            await client.tap("2024", until=client.made("editMessageText"))
            assert client.visible_text() == "Quota 2024"
        finally:
            await application.updater.stop()
            await application.stop()
    assert core.pending_updates() == []
