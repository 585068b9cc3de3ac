"""The sandbox's web chat API (bot/sandbox/webchat.py) with aiohttp's test client, against the real
bot: python-telegram-bot polling the stand-in over HTTP, the notifier and the operator API running
as `swbot run` attaches them. Also the demo feed generator and `swbot sandbox` as a process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from random import Random
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_application
from bot.background import attach_background
from bot.demo import generate, product_named
from bot.domain import cbec
from bot.runtime import build_services
from bot.sandbox.core import BotApiCore
from bot.sandbox.demofeed import Person, new_tax_messages, read_people
from bot.sandbox.server import make_app
from bot.sandbox.webchat import STATIC_DIR, OperatorApi, WebChat, add_webchat
from storage.accounts import import_accounts
from storage.ceb import parse_message
from storage.db import Database
from storage.ingest import Ingestor
from storage.migrate import upgrade
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support.clock import test_clock
from tests.support.harness import make_settings
from tests.support.paths import ROOT

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)


ROOT = ROOT
USER = 424_242
API_KEY = "sandbox-test-api-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(out, consumers=3, seed=5, today=test_clock().today())
    return out


@dataclass
class Sandbox:
    client: TestClient
    core: BotApiCore
    chat: WebChat
    people: list[Person]

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        resp = await self.client.post(path, json=body)
        return resp.status, await resp.json()

    async def state(self) -> dict[str, Any]:
        resp = await self.client.get("/api/state")
        assert resp.status == 200
        return await resp.json()

    async def wait_state(self, check: Callable[[dict[str, Any]], bool], within: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            state = await self.state()
            if check(state):
                return state
            if time.monotonic() > deadline:
                texts = [m["text"][:60] for m in state["messages"]]
                raise AssertionError(f"the chat never got there; messages: {texts}")
            await asyncio.sleep(0.1)

    def bot_texts(self, state: dict[str, Any]) -> list[str]:
        return [m["text"] for m in state["messages"] if not m["out"]]


@pytest.fixture
async def sandbox(tmp_path: Path, demo: Path) -> AsyncIterator[Sandbox]:
    people = read_people(demo / "accounts.csv")
    api_port = free_port()
    settings = make_settings(
        tmp_path, api_listen=f"127.0.0.1:{api_port}", api_key=API_KEY, outbox_poll_interval=0.2, per_chat_interval=0,
    )
    clock = test_clock()
    core = BotApiCore(username="swbot_sandbox_bot", first_name="swbot", clock=clock)
    chat = WebChat(core, user_id=USER, people=people, ceb_dir=demo / "ceb",
                   api=OperatorApi(f"http://127.0.0.1:{api_port}", API_KEY), db_url=settings.db_url, clock=clock)
    client = TestClient(TestServer(add_webchat(make_app(core), chat), host="127.0.0.1"))
    await client.start_server()
    settings = settings.model_copy(update={"bot_api_url": f"http://127.0.0.1:{client.port}/bot"})

    db = Database(settings.db_url, clock=clock)
    await db.check()
    await upgrade(db)
    report = await import_accounts(db, Vault(settings.keys()), (demo / "accounts.csv").read_bytes())
    assert report.rejected == 0
    await db.dispose()

    app = build_application(settings, build_services(settings, clock))
    attach_background(app, settings)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield Sandbox(client, core, chat, people)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
        core.release_pollers()
        await client.close()
        core.shutdown()


# --------------------------------------------------------------------------- page and static files


async def test_page_and_static_files_are_served(sandbox: Sandbox) -> None:
    resp = await sandbox.client.get("/")
    assert resp.status == 200
    page = await resp.text()
    assert '<script src="/static/chat.js">' in page and '/static/chat.css' in page
    for name in ("chat.js", "chat.css"):
        resp = await sandbox.client.get(f"/static/{name}")
        assert resp.status == 200, name


def test_static_files_load_nothing_from_outside_and_never_use_inner_html() -> None:
    names = sorted(p.name for p in STATIC_DIR.iterdir())
    assert names == ["chat.css", "chat.js", "index.html"]
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        # The only absolute URL is the SVG namespace name, which is never fetched.
        urls = set(re.findall(r"https?://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, (path.name, urls)
        assert "@import" not in text and "//cdn" not in text
    code = (STATIC_DIR / "chat.js").read_text(encoding="utf-8")
    assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", code)


# --------------------------------------------------------------------------- state


async def test_state_before_the_first_message(sandbox: Sandbox) -> None:
    state = await sandbox.state()
    assert state["bot"] == {"id": sandbox.core.bot_id, "name": "swbot", "username": "swbot_sandbox_bot"}
    assert state["user"]["id"] == USER and state["user"]["language_code"] == "en"
    assert state["messages"] == [] and state["reply_keyboard"] is None and state["bound"] is None
    # The bot's own command menu (setMyCommands in post_init) and description, in the user's language.
    assert [c["command"] for c in state["commands"]][:3] == ["menu", "quota", "tax"]
    assert state["commands"][0]["description"] == "Main menu"
    assert "Single Window" in state["description"]
    assert state["status"]["done"] and state["status"]["bot_ready"]


async def test_people_are_masked(sandbox: Sandbox) -> None:
    resp = await sandbox.client.get("/api/people")
    body = await resp.json()
    assert body["bound"] is None
    listed = body["people"]
    assert [p["account_id"] for p in listed] == [p.account_id for p in sandbox.people]
    for shown, person in zip(listed, sandbox.people, strict=True):
        assert shown["name"] == person.name[0] + "*" * (len(person.name) - 1)
        assert re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", shown["id_number"])
        assert re.fullmatch(r"1\d\d\*{4}\d{4}", shown["phone"])
        assert person.id_number not in json.dumps(body) and person.phone not in json.dumps(body)
        assert not shown["bound"]


# --------------------------------------------------------------------------- user actions


async def test_send_start_gets_the_welcome_and_state_carries_entities(sandbox: Sandbox) -> None:
    status, body = await sandbox.post("/api/send", {"user_id": USER, "text": "/start"})
    assert status == 200 and body["ok"]
    state = await sandbox.wait_state(lambda s: len(s["messages"]) >= 2)
    mine, reply = state["messages"][0], state["messages"][1]
    assert mine["out"] and mine["text"] == "/start"
    assert not reply["out"] and reply["entities"] and reply["html"]
    assert any(e["type"] == "bold" for e in reply["entities"])
    assert reply["protected"]  # the bot sends everything with protect_content


async def test_deep_link_binds_and_the_start_message_disappears(sandbox: Sandbox) -> None:
    person = sandbox.people[0]
    status, body = await sandbox.post("/api/link", {"user_id": USER, "account_id": person.account_id})
    assert status == 200, body
    assert re.fullmatch(r"https://t\.me/swbot_sandbox_bot\?start=[A-Za-z0-9_-]{16,64}", body["url"])
    state = await sandbox.wait_state(lambda s: s["bound"] == person.account_id and len(s["messages"]) >= 2)
    token = body["url"].rpartition("=")[2]
    assert all(token not in m["text"] for m in state["messages"])  # the bot deleted /start <token>
    assert not any(m["out"] for m in state["messages"])
    menu = state["messages"][-1]
    assert menu["buttons"] and any("Quota" in b["text"] for row in menu["buttons"] for b in row)
    resp = await sandbox.client.get("/api/people")
    people = (await resp.json())["people"]
    assert [p["bound"] for p in people] == [p.account_id == person.account_id for p in sandbox.people]


async def test_tap_edits_the_message_in_place(sandbox: Sandbox) -> None:
    await sandbox.post("/api/link", {"user_id": USER, "account_id": sandbox.people[0].account_id})
    state = await sandbox.wait_state(lambda s: bool(s["messages"]) and bool(s["messages"][-1]["buttons"]))
    menu = state["messages"][-1]
    quota = next(b for row in menu["buttons"] for b in row if "Quota" in b["text"])
    status, body = await sandbox.post("/api/tap", {"user_id": USER, "message_id": menu["id"],
                                                   "data": quota["callback_data"]})
    assert status == 200 and body["ok"]
    assert body["answer"] is not None  # the bot answered the callback query
    state = await sandbox.wait_state(lambda s: any(m["id"] == menu["id"] and m["edited"] for m in s["messages"]))
    edited = next(m for m in state["messages"] if m["id"] == menu["id"])
    assert "quota" in edited["text"].lower() and str(sandbox.chat.clock.today().year) in edited["text"]


async def test_bind_in_chat_walks_the_three_steps(sandbox: Sandbox) -> None:
    person = sandbox.people[1]
    status, body = await sandbox.post("/api/bind-chat", {"user_id": USER, "account_id": person.account_id})
    assert status == 200, body
    assert body == {"ok": True, "bound": person.account_id}
    state = await sandbox.state()
    texts = [m["text"] for m in state["messages"]]
    assert "/bind" in texts and person.name in texts
    assert person.id_number not in texts  # deleted by the bot once read
    assert any(m["contact"] and m["contact"]["user_id"] == USER for m in state["messages"])
    assert state["reply_keyboard"] is None  # the share-my-phone keyboard was removed
    # Already bound: the flow does not start again, and the answer says why.
    status, body = await sandbox.post("/api/bind-chat", {"user_id": USER, "account_id": sandbox.people[0].account_id})
    assert status == 200 and body["ok"] is False and "unbind" in body["reason"]


async def test_share_phone_button_sends_the_own_contact(sandbox: Sandbox) -> None:
    person = sandbox.people[0]
    await sandbox.post("/api/send", {"user_id": USER, "text": "/bind"})
    await sandbox.wait_state(lambda s: len(s["messages"]) >= 2)
    await sandbox.post("/api/send", {"user_id": USER, "text": person.name})
    await sandbox.wait_state(lambda s: len(s["messages"]) >= 4)
    await sandbox.post("/api/send", {"user_id": USER, "text": person.id_number})
    state = await sandbox.wait_state(lambda s: s["reply_keyboard"] is not None)
    assert any(b.get("request_contact") for row in state["reply_keyboard"] for b in row)
    status, body = await sandbox.post("/api/contact", {"user_id": USER, "account_id": person.account_id})
    assert status == 200 and body["ok"]
    await sandbox.wait_state(lambda s: s["bound"] == person.account_id)


async def test_language_switch_changes_language_code_and_command_menu(sandbox: Sandbox) -> None:
    english = (await sandbox.state())["commands"]
    status, body = await sandbox.post("/api/language", {"user_id": USER, "language_code": "zh-hans"})
    assert status == 200 and body["language_code"] == "zh-hans"
    state = await sandbox.state()
    assert state["user"]["language_code"] == "zh-hans"
    assert [c["command"] for c in state["commands"]] == [c["command"] for c in english]
    assert state["commands"][0]["description"] != english[0]["description"]
    await sandbox.post("/api/send", {"user_id": USER, "text": "/start"})
    state = await sandbox.wait_state(lambda s: len(s["messages"]) >= 2)
    assert re.search(r"[\u4e00-\u9fff]", state["messages"][-1]["text"])  # the bot answers in Chinese
    status, _ = await sandbox.post("/api/language", {"user_id": USER, "language_code": "fr"})
    assert status == 400


async def test_new_tax_slip_reaches_the_chat_through_the_operator_api(sandbox: Sandbox) -> None:
    person = sandbox.people[0]
    await sandbox.post("/api/link", {"user_id": USER, "account_id": person.account_id})
    await sandbox.wait_state(lambda s: s["bound"] == person.account_id and len(s["messages"]) >= 2)
    status, body = await sandbox.post("/api/new-tax", {"account_id": person.account_id})
    assert status == 200, body
    assert [(r["type"], r["status"]) for r in body["results"]] == [
        ("CEB621", "accepted"), ("CEB622", "accepted"), ("CEB816", "accepted")]
    state = await sandbox.wait_state(lambda s: any(body["tax_no"] in t for t in sandbox.bot_texts(s)))
    note = next(m for m in state["messages"] if body["tax_no"] in m["text"])
    assert note["buttons"]  # "open tax slip"
    assert f"{Decimal(body['total_tax']):,.2f}" in note["text"]


async def test_verify_and_cancel_stories_reach_the_chat(sandbox: Sandbox) -> None:
    """The sandbox shows the notices that ask to act: a 验核 suspension with its deadline and the
    way to confirm, and a cancelled order's quota coming back."""
    person = sandbox.people[0]
    await sandbox.post("/api/link", {"user_id": USER, "account_id": person.account_id})
    await sandbox.wait_state(lambda s: s["bound"] == person.account_id and len(s["messages"]) >= 2)
    status, body = await sandbox.post("/api/story", {"account_id": person.account_id, "story": "verify"})
    assert status == 200, body
    assert [(r["type"], r["status"]) for r in body["results"]] == [
        ("CEB621", "accepted"), ("CEB622", "accepted"), ("CEB622", "accepted")]
    state = await sandbox.wait_state(lambda s: any("掌上海关" in t for t in sandbox.bot_texts(s)))
    note = next(m for m in state["messages"] if "掌上海关" in m["text"])
    assert "15" in note["text"] and note["buttons"]  # the deadline, and buttons to the list and "not me"
    status, body = await sandbox.post("/api/story", {"account_id": person.account_id, "story": "cancel"})
    assert status == 200, body
    assert [r["type"] for r in body["results"]] == ["CEB621", "CEB622", "CEB622", "CEB623", "CEB624"]
    assert {r["status"] for r in body["results"]} == {"accepted"}
    await sandbox.wait_state(lambda s: any("quota is back" in t or "年度额度" in t for t in sandbox.bot_texts(s)))
    status, _ = await sandbox.post("/api/story", {"account_id": person.account_id, "story": "nonsense"})
    assert status == 400


async def test_events_stream_pushes_a_snapshot_on_every_change(sandbox: Sandbox) -> None:
    resp = await sandbox.client.get("/api/events")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")

    async def next_state() -> dict[str, Any]:
        while True:
            line = (await asyncio.wait_for(resp.content.readline(), 10)).decode()
            if line.startswith("data: "):
                return json.loads(line[6:])

    first = await next_state()
    assert first["messages"] == []
    await sandbox.post("/api/send", {"user_id": USER, "text": "hello there"})
    while True:
        snap = await next_state()
        if any(not m["out"] for m in snap["messages"]):
            break
    assert snap["messages"][0]["text"] == "hello there"
    resp.close()


async def test_bad_requests_are_refused(sandbox: Sandbox) -> None:
    cases: list[tuple[str, Any, int]] = [
        ("/api/send", {"user_id": 1, "text": "hi"}, 400),
        ("/api/send", {"user_id": USER, "text": ""}, 400),
        ("/api/send", [1, 2], 400),
        ("/api/tap", {"user_id": USER, "message_id": "x", "data": "y"}, 400),
        ("/api/tap", {"user_id": USER, "message_id": 99, "data": "forged"}, 400),  # no such button
        ("/api/link", {"user_id": USER, "account_id": "nobody"}, 404),
        ("/api/new-tax", {"account_id": "nobody"}, 404),
        ("/api/bind-chat", {"user_id": USER}, 404),
    ]
    for path, body, expected in cases:
        resp = await sandbox.client.post(path, json=body)
        assert resp.status == expected, (path, body, await resp.text())
        assert "error" in await resp.json()
    resp = await sandbox.client.post("/api/send", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400


# --------------------------------------------------------------------------- demo feed


async def test_new_tax_messages_parse_ingest_and_add_up(tmp_path: Path, demo: Path, sqlite_db: Database,
                                                        vault: Vault) -> None:
    await import_accounts(sqlite_db, vault, (demo / "accounts.csv").read_bytes())
    quarantine = Quarantine(tmp_path / "q", vault, sqlite_db.clock)
    ingestor = Ingestor(sqlite_db, vault, quarantine, max_bytes=10 * 1024 * 1024)
    rng = Random(7)
    for person in read_people(demo / "accounts.csv"):  # the idle account borrows another list's head
        feed = new_tax_messages(demo / "ceb", person, now=sqlite_db.clock.now(), rng=rng)
        assert [t for t, _ in feed.messages] == ["CEB621", "CEB622", "CEB816"]
        inv = parse_message(feed.messages[0][1]).items[0]
        assert inv.buyer_id_number == person.id_number and inv.invt_no == feed.invt_no
        slip = parse_message(feed.messages[2][1]).items[0]
        assert slip.tax_no == feed.tax_no == feed.invt_no + "_0"
        vat = cbec.vat_rate_on(sqlite_db.clock.today())
        total = Decimal(0)
        for line in inv.lines:
            p = product_named(line.gname)
            tax = cbec.line_tax(line.total_price, tariff_rate=p.tariff, consumption_rate=p.consumption,
                                vat_rate=vat, within_limits=True)
            total += tax.customs + tax.consumption + tax.vat
        assert total == feed.total_tax == slip.customs_tax + slip.value_added_tax + slip.consumption_tax
        for msg_type, xml in feed.messages:
            result = await ingestor.ingest(xml, source="api", name=msg_type)
            assert result.status == "accepted", (msg_type, result.reason)


# --------------------------------------------------------------------------- the command


@pytest.mark.subprocess
def test_swbot_sandbox_starts_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWBOT_")}
    env["SWBOT_LOG_LEVEL"] = "WARNING"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bot.py"), "sandbox", "--port", "0", "--consumers", "2"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        while not any(line.startswith("sandbox: ready") for line in lines):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "".join(lines)
            lines.append(line)
            assert time.monotonic() < deadline, "".join(lines)
        url = re.search(r"open (http://127\.0\.0\.1:\d+/)", "".join(lines)).group(1)  # type: ignore[union-attr]
        folder = Path(re.search(r"data folder (\S+)", "".join(lines)).group(1))  # type: ignore[union-attr]
        assert folder.is_dir()
        with urllib.request.urlopen(url + "api/people", timeout=10) as resp:
            people = json.load(resp)["people"]
        assert len(people) == 2
        request = urllib.request.Request(url + "api/link", data=json.dumps({"account_id": people[0]["account_id"]})
                                         .encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert json.load(resp)["url"].startswith("https://t.me/swbot_sandbox_bot?start=")
        with urllib.request.urlopen(url + "api/state", timeout=10) as resp:
            assert json.load(resp)["bound"] == people[0]["account_id"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        lines.append(out)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert output.rstrip().endswith("sandbox: stopped"), output
    assert not folder.exists()  # the throwaway data folder is gone
    assert "Traceback" not in output
