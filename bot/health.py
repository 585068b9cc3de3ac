"""Is this instance fit to take updates? What `GET /healthz` answers, for a load balancer.

Healthy means: not draining (a SIGTERM was not received), the database answers, and its schema is
at the migration head this code knows. Otherwise 503, so a load balancer or an orchestrator takes
the instance out of rotation. The answer names the reason, never anything about the data.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import text

from storage.db import Database
from storage.migrate import head

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 3.0  # seconds: a database that does not answer by then counts as unavailable

OK = "ok"
DRAINING = "draining"
DATABASE_UNAVAILABLE = "database unavailable"
NOT_AT_HEAD = "migrations not at head"


async def schema_revision(db: Database) -> str | None:
    async with db.read() as session:
        return (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()


async def health(db: Database, *, draining: bool = False) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of the health check."""
    if draining:
        return 503, {"ok": False, "status": DRAINING}
    try:
        revision = await asyncio.wait_for(schema_revision(db), CHECK_TIMEOUT)
    except Exception as exc:  # unreachable, timed out, or no alembic_version table yet
        log.warning("healthz: database unavailable (%s)", type(exc).__name__)
        return 503, {"ok": False, "status": DATABASE_UNAVAILABLE}
    if revision != head():
        return 503, {"ok": False, "status": NOT_AT_HEAD, "revision": revision, "head": head()}
    return 200, {"ok": True, "status": OK}
