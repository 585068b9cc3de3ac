"""The stand-in's core on its own: wire decoding, the update queue and long polling, Telegram's HTML
rules, markup rules, fault injection and snapshots."""

from __future__ import annotations

import asyncio
import html
import json
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.sandbox.core import BotApiCore
from bot.sandbox.markup import MarkupError, parse_reply_markup
from bot.sandbox.models import ApiError, SandboxError
from bot.sandbox.spec import Kind, load_spec
from bot.sandbox.tghtml import EntityParseError, parse_html, trim, utf16_len

KB = json.dumps({"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]})


@pytest.fixture
def core() -> BotApiCore:
    c = BotApiCore()
    c.add_user(1, "Ann", language_code="zh-hans")
    return c


async def poll(core: BotApiCore, **params: object) -> tuple[int, dict[str, object]]:
    status, body = await core.request("getUpdates", {k: str(v) for k, v in params.items()})
    return status, json.loads(body)


# -- spec ----------------------------------------------------------------------------------------


def test_spec_data_is_the_bot_api() -> None:
    spec = load_spec()
    assert spec.version.startswith("Bot API")
    assert spec.required("sendMessage") == ["chat_id", "text"]
    assert spec.methods["sendMessage"]["chat_id"].kind is Kind.INT_OR_STR
    assert spec.methods["sendMessage"]["reply_markup"].kind is Kind.JSON
    assert spec.canonical("SENDMESSAGE") == "sendMessage"
    assert spec.canonical("noSuchMethod") is None


def test_form_strings_and_json_values_decode_the_same(core: BotApiCore) -> None:
    core.user_message(1, "/start")
    form = {"chat_id": "1", "text": "x", "protect_content": "true", "reply_markup": KB}
    native = {"chat_id": 1, "text": "y", "protect_content": True, "reply_markup": json.loads(KB)}
    assert core.dispatch("sendMessage", form)[0] == 200
    assert core.dispatch("sendmessage", native)[0] == 200  # method names are case-insensitive
    a, b = core.messages(1)[-2:]
    assert (a.protect_content, a.buttons) == (b.protect_content, b.buttons) == (True, (({"text": "Go",
                                                                                         "callback_data": "go"},),))
    assert core.calls("sendMessage")[0].params["chat_id"] == 1
    status, body = core.dispatch("sendMessage", {"chat_id": "1", "text": "x", "reply_markup": "{nope"})
    assert (status, body["description"]) == (400, "Bad Request: can't parse reply keyboard markup JSON object")
    status, body = core.dispatch("deleteMessage", {"chat_id": "1", "message_id": "abc"})
    assert (status, body["description"]) == (400, 'Bad Request: parameter "message_id" must be an Integer')


# -- updates and long polling ----------------------------------------------------------------------


async def test_offset_acknowledges_and_limit(core: BotApiCore) -> None:
    ids = [core.user_message(1, f"m{i}")["update_id"] for i in range(3)]  # type: ignore[index]
    status, body = await poll(core, limit=2)
    assert status == 200 and [u["update_id"] for u in body["result"]] == ids[:2]  # type: ignore[union-attr,index]
    _, body = await poll(core, offset=ids[1] + 1)
    assert [u["update_id"] for u in body["result"]] == ids[2:]  # type: ignore[union-attr,index]
    _, body = await poll(core, offset=ids[2] + 1)
    assert body["result"] == []
    assert core.pending_updates() == []


async def test_negative_offset_keeps_the_last_ones(core: BotApiCore) -> None:
    ids = [core.user_message(1, f"m{i}")["update_id"] for i in range(4)]  # type: ignore[index]
    _, body = await poll(core, offset=-1)
    assert [u["update_id"] for u in body["result"]] == ids[-1:]  # type: ignore[union-attr,index]


async def test_allowed_updates_drop_other_kinds(core: BotApiCore) -> None:
    core.user_message(1, "/start")
    _, body = await poll(core, allowed_updates='["callback_query"]')
    assert body["result"] == []
    dropped = core.user_message(1, "hello")
    assert dropped is not None and core.delivered(dropped["update_id"])  # nobody will ever fetch it


async def test_long_poll_returns_as_soon_as_an_update_arrives(core: BotApiCore) -> None:
    def later() -> None:
        time.sleep(0.05)
        core.user_message(1, "wake up")  # another thread, another (no) loop

    threading.Thread(target=later).start()
    started = time.monotonic()
    _, body = await poll(core, timeout=5)
    assert time.monotonic() - started < 1.0
    assert body["result"][0]["message"]["text"] == "wake up"  # type: ignore[index]


async def test_empty_long_poll_waits_for_its_timeout(core: BotApiCore) -> None:
    started = time.monotonic()
    _, body = await poll(core, timeout=1)  # an Integer in the Bot API
    assert body["result"] == [] and 0.9 < time.monotonic() - started < 2.0


async def test_second_poller_terminates_the_first(core: BotApiCore) -> None:
    first = asyncio.create_task(poll(core, timeout=5))
    await asyncio.sleep(0.02)
    second = asyncio.create_task(poll(core, timeout=0))
    status, body = await asyncio.wait_for(first, 1)
    assert status == 409
    assert body["description"] == ("Conflict: terminated by other getUpdates request; "
                                   "make sure that only one bot instance is running")
    assert (await second)[0] == 200


async def test_client_timeout_shorter_than_poll(core: BotApiCore) -> None:
    with pytest.raises(TimeoutError):
        await core.request("getUpdates", {"timeout": "5"}, client_timeout=0.05)
    assert core._pollers == []  # the waiter is gone


async def test_fault_on_get_updates(core: BotApiCore) -> None:
    core.fail_next("getUpdates", error_code=502)
    status, body = await poll(core)
    assert (status, body["description"]) == (502, "Bad Gateway")
    assert (await poll(core))[0] == 200


# -- messages, validation ------------------------------------------------------------------------


def test_snapshot_is_plain_data(core: BotApiCore) -> None:
    core.user_message(1, "/start")
    result = core.call("sendMessage", chat_id=1, text="<i>a</i> &lt;b&gt;", parse_mode="HTML", reply_markup=KB,
                       protect_content=True)
    view = core.message(1, result["message_id"])
    assert (view.text, view.html) == ("a <b>", "<i>a</i> &lt;b&gt;")
    assert view.buttons == (({"text": "Go", "callback_data": "go"},),)
    assert (view.protect_content, view.edited, view.deleted, view.from_bot) == (True, 0, False, True)
    core.call("editMessageText", chat_id=1, message_id=view.message_id, text="b", reply_markup=KB)
    after = core.last_message(1)
    assert after is not None and (after.text, after.edited, after.html) == ("b", 1, "b")
    assert view.text == "a <b>"  # the earlier snapshot did not change
    history = core.edit_history(1, view.message_id)
    assert [(h["text"], h["html"]) for h in history] == [("a <b>", "<i>a</i> &lt;b&gt;")]
    user = core.last_message(1, from_bot=False)
    assert user is not None and user.text == "/start"


def test_message_ids_increase_per_chat(core: BotApiCore) -> None:
    core.add_user(2, "Bo")
    core.user_message(1, "a")
    core.user_message(2, "a")
    core.user_message(1, "b")
    assert [m.message_id for m in core.messages(1)] == [1, 2]
    assert [m.message_id for m in core.messages(2)] == [1]


def test_reply_parameters(core: BotApiCore) -> None:
    core.user_message(1, "question")
    sent = core.call("sendMessage", chat_id=1, text="answer", reply_parameters=json.dumps({"message_id": 1}))
    assert sent["reply_to_message"]["text"] == "question"
    with pytest.raises(ApiError, match="message to be replied not found"):
        core.call("sendMessage", chat_id=1, text="x", reply_parameters={"message_id": 77})


def test_fault_times_and_wildcard(core: BotApiCore) -> None:
    core.user_message(1, "/start")
    core.fail_next("*", error_code=500, times=2)
    for _ in range(2):
        with pytest.raises(ApiError) as info:
            core.call("getMe")
        assert info.value.code == 500
    assert core.call("getMe")["is_bot"] is True
    core.fail_next("sendMessage", error_code=400, description="Bad Request: custom", times=1)
    with pytest.raises(ApiError, match="Bad Request: custom"):
        core.call("sendMessage", chat_id=1, text="x")
    assert core.call("sendMessage", chat_id=1, text="x")["text"] == "x"


def test_user_actions_refuse_what_telegram_apps_cannot_do(core: BotApiCore) -> None:
    with pytest.raises(SandboxError, match="unknown user"):
        core.user_message(99, "hi")
    with pytest.raises(SandboxError, match="1-4096"):
        core.user_message(1, "")
    core.add_user(2, "Bo")
    group = core.create_group("G", creator_id=1)
    with pytest.raises(SandboxError, match="not a member"):
        core.user_message(2, "hi", chat_id=group)
    with pytest.raises(SandboxError, match="no message"):
        core.user_tap(1, 1, 42, "x")


def test_calls_since_and_record(core: BotApiCore) -> None:
    seq = core.call_seq()
    core.call("getMe")
    core.dispatch("nope", {})
    calls = core.calls_since(seq)
    assert [(c.method, c.ok, c.error_code) for c in calls] == [("getMe", True, None), ("nope", False, 400)]
    assert calls[1].description == "Not Found: method not found"


async def test_setting_a_webhook_ends_a_pending_poll(core: BotApiCore) -> None:
    pending = asyncio.create_task(poll(core, timeout=5))
    await asyncio.sleep(0.02)
    core.call("setWebhook", url="http://127.0.0.1:9/hook")
    try:
        status, body = await asyncio.wait_for(pending, 1)
        assert status == 409 and "webhook is active" in str(body["description"])
    finally:
        core.shutdown()


def test_webhook_settings_validated(core: BotApiCore) -> None:
    with pytest.raises(ApiError, match="HTTPS URL"):
        core.call("setWebhook", url="ftp://x")
    with pytest.raises(ApiError, match="secret token"):
        core.call("setWebhook", url="http://127.0.0.1:9/hook", secret_token="bad token!")
    assert core.webhook_info()["url"] == ""


# -- HTML ----------------------------------------------------------------------------------------


def test_html_entities_and_offsets() -> None:
    parsed = trim(parse_html('😀 <b>粗</b> <a href="https://e.x/?a=1&b=2">l</a> <pre><code class="language-py">'
                             "x</code></pre> <blockquote expandable>q</blockquote>"))
    assert parsed.text == "😀 粗 l x q"
    assert parsed.entities == [
        {"type": "bold", "offset": 3, "length": 1},
        {"type": "text_link", "offset": 5, "length": 1, "url": "https://e.x/?a=1&b=2"},
        {"type": "pre", "offset": 7, "length": 1, "language": "py"},
        {"type": "expandable_blockquote", "offset": 9, "length": 1},
    ]


def test_html_numeric_references_and_lenient_ampersand() -> None:
    assert parse_html("&#20215;&#x683C; &quot;").text == '价格 "'
    assert parse_html("Tom & Jerry", strict_ampersand=False).text == "Tom & Jerry"
    with pytest.raises(EntityParseError):
        parse_html("&nbsp;")  # named references other than lt gt amp quot are not Telegram's


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200))
def test_escaped_text_parses_back_to_itself(text: str) -> None:
    parsed = parse_html(html.escape(text))
    assert parsed.text == text and parsed.entities == []
    assert utf16_len(parsed.text) == len(text.encode("utf-16-le")) // 2


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=80))
def test_callback_data_rule_is_one_to_64_utf8_bytes(data: str) -> None:
    markup = {"inline_keyboard": [[{"text": "b", "callback_data": data}]]}
    valid = 1 <= len(data.encode("utf-8")) <= 64
    try:
        parse_reply_markup(markup)
    except MarkupError as exc:
        assert not valid and str(exc) == "BUTTON_DATA_INVALID"
    else:
        assert valid
