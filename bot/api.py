"""Operator HTTP API (aiohttp): push CEB messages in, issue binding deep links, health check.

Off unless ``SWBOT_API_LISTEN=HOST:PORT`` is set; then ``SWBOT_API_KEY`` is required. Put it
behind TLS (a reverse proxy): the API itself speaks plain HTTP.

Endpoints
---------
``POST /v1/messages``
    Body: one CEB message (the raw XML bytes, any content type), at most
    ``SWBOT_MAX_MESSAGE_BYTES``. Ingested exactly as ``swbot ingest`` does (same checks, same
    quarantine for rejected messages); pushes that arrive together share one transaction (group
    commit), and each is answered only once its transaction committed. Answers JSON
    ``{"status": "accepted"|"duplicate"|"rejected", "reason": str|null}``: 200 for accepted and
    duplicate, 422 for rejected (the reason says why; it holds no personal data), 503 when the
    database was unavailable (nothing was written; send it again later). Sending the same message
    twice is harmless: the second answer is ``duplicate``.
``POST /v1/links``
    Body: JSON ``{"account_id": "...", "ttl_minutes": 15}`` (``ttl_minutes`` optional, 1-10080,
    default 15). Issues a one-time binding deep link for that Single Window account: 200
    ``{"url": "https://t.me/<bot>?start=<token>", "expires_in_minutes": 15}``; 404 for an unknown
    account; 400 for a malformed body. Each call voids the account's earlier unused links. A
    request whose signature was already used is refused with 409 (a captured request cannot be
    replayed to mint a fresh link); sign every request anew.
``GET /healthz``
    No authentication. The same check as the webhook listener's (bot.health): 200
    ``{"ok": true, "status": "ok"}`` when the database answers and its schema is at the migration
    head; else 503 ``{"ok": false, "status": "database unavailable" | "migrations not at head" |
    "draining"}`` (draining: the process is stopping).

Authentication (every endpoint except /healthz)
-----------------------------------------------
Two headers::

    X-Swbot-Timestamp: <unix time in seconds, decimal integer>
    X-Swbot-Signature: <lowercase hex HMAC-SHA256>

where the signature is HMAC-SHA256, keyed with the UTF-8 bytes of ``SWBOT_API_KEY``, over the
bytes ``f"{timestamp}."`` followed by the raw request body, exactly as sent (no re-encoding)::

    signature = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()

The timestamp must be within 300 seconds of the server's clock. A missing or malformed header, a
stale timestamp or a wrong signature is answered 401 before anything is read or changed. A body
over the size limit is answered 413.

Example with curl and openssl::

    KEY="$SWBOT_API_KEY"; TS=$(date +%s)
    SIG=$( { printf '%s.' "$TS"; cat message.xml; } \\
           | openssl dgst -sha256 -hmac "$KEY" -hex | sed 's/^.*= //')
    curl -sS -X POST --data-binary @message.xml \\
         -H "X-Swbot-Timestamp: $TS" -H "X-Swbot-Signature: $SIG" \\
         http://127.0.0.1:8081/v1/messages
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.health import health
from bot.runtime import Services
from storage.group_commit import GroupCommit
from storage.ingest import ACCEPTED, DUPLICATE, Ingestor
from storage.links import UnknownAccount, issue_token

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Swbot-Timestamp"
SIGNATURE_HEADER = "X-Swbot-Signature"
MAX_SKEW = 300  # seconds
MAX_TTL_MINUTES = 7 * 24 * 60
LINKS_BODY_MAX = 4096

SERVICES_KEY: web.AppKey[Services] = web.AppKey("swbot_services", Services)
INGESTOR_KEY: web.AppKey[Ingestor] = web.AppKey("swbot_ingestor", Ingestor)
GROUP_COMMIT_KEY: web.AppKey[GroupCommit] = web.AppKey("swbot_group_commit", GroupCommit)
USERNAME_KEY: web.AppKey[Callable[[], Awaitable[str]]] = web.AppKey("swbot_username")
SEEN_KEY: web.AppKey[dict[str, float]] = web.AppKey("swbot_seen_signatures")

UsernameProvider = Callable[[], Awaitable[str]]


def sign(key: bytes, timestamp: int | str, body: bytes) -> str:
    """The signature a client sends (also used by the tests and the README example)."""
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _timestamp_problem(request: web.Request, now: float) -> str | None:
    raw = request.headers.get(TIMESTAMP_HEADER, "").strip()
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        return "missing or malformed timestamp"
    if abs(now - int(raw)) > MAX_SKEW:
        return "stale timestamp"
    if not request.headers.get(SIGNATURE_HEADER, "").strip():
        return "missing signature"
    return None


def _signature_ok(key: bytes, request: web.Request, body: bytes) -> bool:
    expected = sign(key, request.headers[TIMESTAMP_HEADER].strip(), body).encode()
    given = request.headers.get(SIGNATURE_HEADER, "").strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected, given)


async def _authenticated_body(request: web.Request, limit: int) -> bytes | web.Response:
    """The raw body once the request is authentic, or the error response to give."""
    problem = _timestamp_problem(request, request.app[SERVICES_KEY].clock.timestamp())
    if problem:
        return _error(401, problem)
    if request.content_length is not None and request.content_length > limit:
        return _error(413, f"body over {limit} bytes")
    try:
        body = await request.read()  # client_max_size also stops a chunked body while reading
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"body over {limit} bytes")
    if len(body) > limit:
        return _error(413, f"body over {limit} bytes")
    key = request.app[SERVICES_KEY].settings.api_key
    assert key is not None  # attach_background refuses to start the API without one
    if not _signature_ok(key.get_secret_value().encode(), request, body):
        return _error(401, "bad signature")
    return body


async def messages(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    body = await _authenticated_body(request, services.settings.max_message_bytes)
    if isinstance(body, web.Response):
        return body
    result = await request.app[GROUP_COMMIT_KEY].ingest(body, name="api")
    payload = {"status": result.status, "reason": result.reason}
    if result.status in (ACCEPTED, DUPLICATE):
        return web.json_response(payload)
    if result.quarantined is None:  # not the message's fault: the database was unavailable
        return web.json_response(payload, status=503, headers={"Retry-After": "5"})
    return web.json_response(payload, status=422)


async def links(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    body = await _authenticated_body(request, LINKS_BODY_MAX)
    if isinstance(body, web.Response):
        return body
    if not _first_use(request.app[SEEN_KEY], request.headers[SIGNATURE_HEADER].strip().lower()):
        return _error(409, "this signature was already used; sign each request anew")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "body must be a JSON object")
    if not isinstance(data, dict):
        return _error(400, "body must be a JSON object")
    account_id, ttl = data.get("account_id"), data.get("ttl_minutes", 15)
    if not isinstance(account_id, str) or not 1 <= len(account_id) <= 64:
        return _error(400, "account_id must be a string of 1-64 characters")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_TTL_MINUTES:
        return _error(400, f"ttl_minutes must be an integer from 1 to {MAX_TTL_MINUTES}")
    username = await request.app[USERNAME_KEY]()
    try:
        async with services.db.write() as session:
            token = await issue_token(session, services.vault, account_id, ttl)
    except UnknownAccount:
        return _error(404, "unknown account")
    return web.json_response({"url": f"https://t.me/{username}?start={token}", "expires_in_minutes": ttl})


def _first_use(seen: dict[str, float], signature: str) -> bool:
    """Remember signatures for twice the skew window (after that the timestamp check refuses them)."""
    now = time.monotonic()
    if len(seen) > 1000:
        for sig, at in list(seen.items()):
            if now - at > 2 * MAX_SKEW:
                del seen[sig]
    if signature in seen:
        return False
    seen[signature] = now
    return True


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    status, body = await health(services.db, draining=services.draining)
    return web.json_response(body, status=status)


def make_api_app(services: Services, ingestor: Ingestor, bot_username_provider: UsernameProvider) -> web.Application:
    """The operator API as an aiohttp application (not yet serving: see `start_api`)."""
    # The cap covers the largest body any endpoint takes; each endpoint checks its own limit too.
    app = web.Application(client_max_size=max(services.settings.max_message_bytes, LINKS_BODY_MAX))
    app[SERVICES_KEY] = services
    app[INGESTOR_KEY] = ingestor
    app[GROUP_COMMIT_KEY] = group = GroupCommit(ingestor, source="api")

    async def finish_pushes(_app: web.Application) -> None:
        await group.close()  # after the handlers: what they handed over is written first

    app.on_cleanup.append(finish_pushes)
    app[USERNAME_KEY] = bot_username_provider
    app[SEEN_KEY] = {}
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/links", links)
    app.router.add_get("/healthz", healthz)
    return app


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


async def start_api(app: web.Application, listen: str) -> tuple[web.AppRunner, int]:
    """Serve on HOST:PORT (port 0 picks a free one). Returns the runner and the bound port."""
    host, port = parse_listen(listen)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("operator API listening on %s:%s", host, bound)
    return runner, int(bound)


async def stop_api(runner: web.AppRunner) -> None:
    await runner.cleanup()
