"""Migration 0003 (real customs messages) on a database that already holds data: rows survive, the new columns get their
values, the raised lengths and the new duplicate rule hold, and it goes down and up again."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from storage.db import Database
from storage.migrate import current, downgrade, head, upgrade

NOW = dt.datetime(2026, 11, 1, 9, 0, 0)
KEY = b"k" * 32


_ROWS_0001 = [
    """INSERT INTO accounts (id, account_id, id_type, identity_key, phone_key, name_enc, id_number_enc, phone_enc,
       created_at, updated_at) VALUES (1, 'acct-1', '1', :key, :key, :blob, :blob, :blob, :now, :now)""",
    "INSERT INTO tg_users (telegram_user_id, created_at) VALUES (42, :now)",
    """INSERT INTO bindings (id, telegram_user_id, account_pk, chat_id, tag, method, active, notify_tax,
       notify_status, notify_quota, notify_suspicious, created_at)
       VALUES (1, 42, 1, 42, 'aZ3k9Q', 'link', :yes, :yes, :no, :yes, :yes, :now)""",
    """INSERT INTO inventories (id, guid, app_type, app_time, order_no, ebp_code, ebp_name, ebc_code, ebc_name,
       logistics_no, logistics_code, logistics_name, decl_date, decl_year, customs_code, port_code, trade_mode,
       country, currency, freight, insured_fee, goods_value, total_value, identity_key, buyer_phone_key,
       buyer_phone_masked, address_key, status_group, counted, cancelled, created_at)
       VALUES (1, 'g', '1', :now, 'O1', 'P', 'P', 'E', 'E', 'L', 'L', 'L', :day, 2026, '2924', '2924', '1210',
       '142', '142', 0, 0, 60900000, 60900000, :key, :key, '138****8000', :key, 'released', :yes, :no, :now)""",
    """INSERT INTO inventory_lines (id, inventory_id, gnum, gcode, gname, country, currency, qty, unit, price,
       total_price) VALUES (1, 1, 1, '1901101000', '奶粉', '116', '142', 100000, '122', 60900000, 60900000)""",
    """INSERT INTO ingested_messages (guid, sha256, msg_type, source, received_at)
       VALUES ('4cde1cfd-eded-46b1-946c-b8022e42fc94', :key, 'CEB621', 'file', :now)""",
    # Children of the tables 0003 rebuilds on SQLite: they must survive it (no cascade on the copy).
    """INSERT INTO receipts (inventory_id, guid, return_status, return_time, created_at)
       VALUES (1, 'r', 800, :now, :now)""",
    """INSERT INTO outbox (dedupe_key, binding_id, kind, payload, status, attempts, next_attempt_at, created_at)
       VALUES ('status:1:released:1', 1, 'tax_new', '{}', 'pending', 0, :now, :now)""",
    """INSERT INTO tax_slips (tax_no, guid, invt_no, inventory_id, return_time, customs_tax, value_added_tax,
       consumption_tax, total_tax, status, status_time, created_at)
       VALUES ('T1', 'g', '29242026I000000001', 1, :now, 0, 0, 0, 0, 1, :now, :now)""",
    """INSERT INTO tax_lines (tax_slip_id, gnum, tax_price, customs_tax, value_added_tax, consumption_tax)
       SELECT id, 1, 60900000, 0, 0, 0 FROM tax_slips""",
]
_CHILDREN = ("inventory_lines", "receipts", "outbox", "tax_lines", "tax_slips", "bindings", "inventories")
# (PostgreSQL: rows without an explicit id, so the sequences stay right for the inserts after.)


async def test_0003_keeps_data_and_fills_the_new_columns(db: Database) -> None:
    await downgrade(db, "0001")
    assert await current(db) == "0001"
    params = {"key": KEY, "blob": b"x", "now": NOW, "day": NOW.date(), "yes": True, "no": False}
    async with db.write() as s:
        for sql in _ROWS_0001:
            await s.execute(text(sql), params)
    await upgrade(db, "0003")
    assert await current(db) == "0003"
    async with db.read() as s:
        for table in _CHILDREN:
            assert (await s.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 1, table
        assert (await s.execute(text("SELECT inventory_id FROM tax_slips"))).scalar_one() == 1
        binding = (
            await s.execute(
                text(
                    "SELECT notify_status, notify_verify, notify_over_limit, notify_mismatch, notify_list_status "
                    "FROM bindings"
                )
            )
        ).one()
        assert tuple(bool(v) for v in binding) == (False, True, True, True, True)  # kept, and new ones on
        inv = (
            await s.execute(
                text(
                    "SELECT total_value, counted, draft, returned_value, returned_items, cancel_state FROM inventories"
                )
            )
        ).one()
        assert (inv[0], bool(inv[1]), bool(inv[2]), inv[3], inv[4], inv[5]) == (60900000, True, False, 0, 0, None)
        assert (await s.execute(text("SELECT returned_qty FROM inventory_lines"))).scalar_one() is None
    async with db.write() as s:
        # The same root guid under another message type is another message now.
        await s.execute(
            text(
                "INSERT INTO ingested_messages (guid, sha256, msg_type, source, received_at) "
                "VALUES ('4cde1cfd-eded-46b1-946c-b8022e42fc94', :k2, 'CEB622', 'file', :now)"
            ),
            {"k2": b"z" * 32, "now": NOW},
        )
        # taxNo up to 50 characters, TaxHeadRd.ebcCode up to 64 (PostgreSQL enforces VARCHAR lengths).
        await s.execute(
            text(
                "INSERT INTO tax_slips (tax_no, guid, invt_no, return_time, customs_tax, value_added_tax, "
                "consumption_tax, total_tax, status, status_time, ebc_code, created_at) VALUES (:tax, 'g', "
                "'29242026I000000001', :now, 0, 0, 0, 0, 1, :now, :ebc, :now)"
            ),
            {"tax": "T" * 50, "ebc": "E" * 64, "now": NOW},
        )


async def test_0003_goes_down_and_up_again(db: Database) -> None:
    await downgrade(db, "0001")
    await upgrade(db, "0003")
    await upgrade(db, "0003")
    assert await current(db) == "0003"
    await upgrade(db)
    assert await current(db) == head()


async def test_0005_adds_the_input_message_id_and_goes_down_and_up_keeping_users_and_bindings(db: Database) -> None:
    await downgrade(db, "0004")
    params = {"key": KEY, "blob": b"x", "now": NOW, "day": NOW.date(), "yes": True, "no": False}
    async with db.write() as s:
        for sql in _ROWS_0001[:2]:  # an account, a Telegram user
            await s.execute(text(sql), params)
        await s.execute(
            text(
                "INSERT INTO bindings (telegram_user_id, account_pk, chat_id, tag, method, active, notify_tax, "
                "notify_status, notify_quota, notify_suspicious, notify_verify, notify_over_limit, notify_mismatch, "
                "notify_list_status, created_at) VALUES (42, 1, 42, 'aZ3k9Q', 'link', :yes, :yes, :yes, :yes, :yes, "
                ":yes, :yes, :yes, :yes, :now)"
            ),
            params,
        )
    await upgrade(db, "0005")
    async with db.write() as s:
        await s.execute(text("UPDATE tg_users SET input_message_id = 9000000000 WHERE telegram_user_id = 42"))
    async with db.read() as s:
        assert (await s.execute(text("SELECT input_message_id FROM tg_users"))).scalar_one() == 9_000_000_000
    await downgrade(db, "0004")
    await upgrade(db)
    async with db.read() as s:
        assert (await s.execute(text("SELECT input_message_id FROM tg_users"))).scalar_one() is None
        # The rebuilt table's dependants survive (SQLite recreates a table to drop a column).
        assert (await s.execute(text("SELECT count(*) FROM bindings"))).scalar_one() == 1
        assert (await s.execute(text("SELECT telegram_user_id FROM tg_users"))).scalar_one() == 42
