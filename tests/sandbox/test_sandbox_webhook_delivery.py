"""The stand-in delivers webhook updates as Telegram does: different chats in parallel, up to the
webhook's max_connections at once; one chat's updates one after another, the next only once the
previous was answered 2xx; what was not answered 2xx (an error status, a dropped connection) is
pushed again, and its chat's later updates wait for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web

from bot.sandbox.core import BotApiCore
from bot.sandbox.server import SandboxServer
from bot.sandbox.webhook import chat_key

ANN, BOB, CY = 801, 802, 803


class Receiver:
    """A webhook endpoint that records arrivals and answers when the test says so."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[int, int]] = []  # (update_id, chat id) in arrival order
        self.gates: dict[int, asyncio.Event] = {}  # update_id → answer when set (absent: at once)
        self.hold_all = False
        self.statuses: dict[int, list[int]] = {}  # update_id → statuses to answer, in turn
        self.drop: set[int] = set()  # update ids whose first delivery gets the connection closed
        self.in_flight = 0
        self.most_in_flight = 0

    def gate(self, update_id: int) -> asyncio.Event:
        return self.gates.setdefault(update_id, asyncio.Event())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        update = await request.json()
        uid = update["update_id"]
        chat = update["message"]["chat"]["id"]
        self.arrivals.append((uid, chat))
        if uid in self.drop:
            self.drop.discard(uid)
            assert request.transport is not None
            request.transport.close()  # no answer at all: a crash mid-update
            return web.Response()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hold_all or uid in self.gates:
                await self.gate(uid).wait()
        finally:
            self.in_flight -= 1
        statuses = self.statuses.get(uid)
        return web.Response(status=statuses.pop(0) if statuses else 200)

    def seen(self, uid: int) -> int:
        return sum(1 for u, _ in self.arrivals if u == uid)


@pytest.fixture
def core() -> Iterator[BotApiCore]:
    c = BotApiCore()
    c.webhook_retry_delay = 0.05
    for uid, name in ((ANN, "Ann"), (BOB, "Bob"), (CY, "Cy")):
        c.add_user(uid, name)
    yield c
    c.shutdown()


@pytest.fixture
async def receiver(core: BotApiCore) -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield rec, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    for event in rec.gates.values():
        event.set()
    rec.hold_all = False
    await runner.cleanup()


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def send(core: BotApiCore, user: int, text: str) -> int:
    update = core.user_message(user, text)
    assert update is not None
    return int(update["update_id"])


async def test_chats_in_parallel_up_to_max_connections(core: BotApiCore, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rec.hold_all = True
    core.call("setWebhook", url=url, max_connections=2)
    a, b, c = send(core, ANN, "a"), send(core, BOB, "b"), send(core, CY, "c")
    await until(lambda: len(rec.arrivals) == 2)
    await asyncio.sleep(0.2)
    assert sorted(u for u, _ in rec.arrivals) == [a, b]  # the third waits for a free connection
    assert core.webhook_in_flight() == 2 and not core.delivered(a)
    rec.gate(a).set()
    await until(lambda: len(rec.arrivals) == 3)
    assert rec.arrivals[2] == (c, CY)
    assert core.delivered(a) and not core.delivered(b)
    rec.gate(b).set()
    rec.gate(c).set()
    await until(lambda: core.delivered(b) and core.delivered(c))
    assert rec.most_in_flight == 2
    assert core.webhook_info()["pending_update_count"] == 0


async def test_one_chat_strictly_in_order(core: BotApiCore, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rec.hold_all = True
    core.call("setWebhook", url=url)
    first, second, other = send(core, ANN, "1"), send(core, ANN, "2"), send(core, BOB, "x")
    await until(lambda: len(rec.arrivals) == 2)
    await asyncio.sleep(0.2)
    # Ann's second update waits for her first to be answered; Bob's goes at once.
    assert sorted(rec.arrivals) == [(first, ANN), (other, BOB)]
    rec.gate(first).set()
    await until(lambda: rec.seen(second) == 1)
    assert core.delivered(first) and not core.delivered(second)
    rec.gate(second).set()
    rec.gate(other).set()
    await until(lambda: core.delivered(second) and core.delivered(other))


@pytest.mark.wallclock  # socket and thread timeouts (pyproject markers)
async def test_unanswered_updates_come_again_and_hold_their_chat(core: BotApiCore,
                                                                 receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    core.call("setWebhook", url=url)
    uid = core._next_update_id
    rec.statuses[uid] = [503, 500]
    assert send(core, ANN, "1") == uid
    later, bob = send(core, ANN, "2"), send(core, BOB, "x")
    await until(lambda: core.delivered(later))
    order = [u for u, _ in rec.arrivals]
    assert order.count(uid) == 3  # 503, 500, then 200
    assert order.index(later) > max(i for i, u in enumerate(order) if u == uid)  # never overtook it
    assert core.delivered(bob) and core.delivered(uid)
    assert core.webhook_info()["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"


@pytest.mark.wallclock  # socket and thread timeouts (pyproject markers)
async def test_a_dropped_connection_is_delivered_again(core: BotApiCore, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    core.call("setWebhook", url=url)
    uid = core._next_update_id
    rec.drop.add(uid)
    assert send(core, ANN, "hello") == uid
    await until(lambda: core.delivered(uid))
    assert rec.seen(uid) == 2
    assert core.webhook_info()["pending_update_count"] == 0


def test_ordering_keys() -> None:
    message = {"update_id": 1, "message": {"chat": {"id": 5}, "from": {"id": 6}}}
    tap = {"update_id": 2, "callback_query": {"from": {"id": 6}, "message": {"chat": {"id": 5}}}}
    inline_tap = {"update_id": 3, "callback_query": {"from": {"id": 6}, "inline_message_id": "x"}}
    assert chat_key("message", message) == ("chat", 5)
    assert chat_key("callback_query", tap) == ("chat", 5)
    assert chat_key("callback_query", inline_tap) == ("user", 6)
    assert chat_key("poll", {"update_id": 4, "poll": {"id": "p"}}) is None


async def test_hold_keeps_requests_from_taking_effect_until_released(core: BotApiCore) -> None:
    import aiohttp

    server = SandboxServer(core)
    base = server.start()
    core.user_message(ANN, "hi", enqueue=False)  # Ann wrote first: the bot may write to her
    try:
        core.hold()
        async with aiohttp.ClientSession() as session:
            held = asyncio.ensure_future(session.post(f"{base}123:abc/sendMessage",
                                                      json={"chat_id": ANN, "text": "late"}))
            await until(lambda: core.held() == 1)
            await asyncio.sleep(0.2)
            assert not held.done() and core.last_message(ANN) is None  # the bot's newest
            # A client that gives up while held: its request never happens.
            gone = asyncio.ensure_future(session.post(f"{base}123:abc/sendMessage",
                                                      json={"chat_id": ANN, "text": "never"}))
            await until(lambda: core.held() == 2)
            gone.cancel()
            await until(lambda: core.held() == 1)  # the server let the abandoned request go
            core.release()
            response = await asyncio.wait_for(held, 5)
            assert response.status == 200
            response.release()
        await asyncio.sleep(0.2)
        assert [m.text for m in core.messages(ANN)] == ["hi", "late"]
    finally:
        server.stop()
