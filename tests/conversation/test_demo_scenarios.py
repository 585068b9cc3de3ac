"""The demo data the conversation tests rely on really holds the scenarios they need."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import TaxSlip
from tests.support.conversation import (
    HTML_NAME,
    DemoDB,
    account_ids_with_records,
    account_with_line,
    account_without_records,
    identity_key_of,
    longest_list,
)
from tests.support.harness import Harness


async def test_demo_data_holds_the_scenarios_the_conversation_tests_need(h: Harness, demo: DemoDB) -> None:
    accounts = await account_ids_with_records(h)
    assert len(accounts) >= 2  # a second identity for cross-account checks
    key = await identity_key_of(h, accounts[0])
    async with h.db.read() as s:
        slips = (await s.execute(select(func.count()).where(TaxSlip.identity_key == key))).scalar_one()
    assert slips > 10  # more than two pages of five
    assert await account_without_records(h)
    html_account, _ = await account_with_line(h, HTML_NAME)
    assert html_account in {e.account_id for e in demo.summary.expectations}
    _, _, lines = await longest_list(h)
    assert lines >= 40
    # Distinct identities: nothing in a test can pass by mixing two people up.
    names = [e.name for e in demo.summary.expectations]
    assert len(set(names)) == len(names)
    assert demo.summary.today == h.db.clock.today() or abs((demo.summary.today - h.db.clock.today()).days) <= 1
