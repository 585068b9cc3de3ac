"""ingest indexes: receipts partial (linked ones by list, unlinked ones by number); a list's requests

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

A receipt is looked up by its numbers (pre_no, invt_no, copNo + ebcCode) only while no list holds
it, to link it when its list arrives, and by its list only once linked. The indexes now hold just
those rows: a receipt for a known list writes two index entries instead of six, and linking no
longer reads every unlinked receipt. The index on guid alone goes: the unique constraint on
(guid, returnStatus, returnTime) serves that lookup.

A list's cancellations and returns are found by its ebcCode + orderNo: the unique constraint
starts with the kind, so that search read every request for each list ingested. It has an index
of its own now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNLINKED = "inventory_id IS NULL"
_LINKED = "inventory_id IS NOT NULL"
# name, columns, condition
_PARTIAL = (
    ("ix_receipts_inventory_id", ["inventory_id"], _LINKED),
    ("ix_receipts_pre_no", ["pre_no"], _UNLINKED),
    ("ix_receipts_invt_no", ["invt_no"], _UNLINKED),
    ("ix_receipts_cop_ebc", ["cop_no", "ebc_code"], _UNLINKED),
)


def _where(condition: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    op.create_index("ix_list_requests_order", "list_requests", ["ebc_code", "order_no"], unique=False)
    op.drop_index("ix_receipts_guid", table_name="receipts")
    for name, columns, condition in _PARTIAL:
        op.drop_index(name, table_name="receipts")
        op.create_index(name, "receipts", columns, unique=False, **_where(condition))


def downgrade() -> None:
    for name, columns, _condition in _PARTIAL:
        op.drop_index(name, table_name="receipts")
        op.create_index(name, "receipts", columns, unique=False)
    op.create_index("ix_receipts_guid", "receipts", ["guid"], unique=False)
    op.drop_index("ix_list_requests_order", table_name="list_requests")
