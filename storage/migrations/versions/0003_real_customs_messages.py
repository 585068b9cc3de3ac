"""real customs messages: schema lengths, drafts, cancellations and returns, new notices

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

- Column lengths raised to the official 202205 schema's (reference/ceb-schema.md): taxNo 50,
  TaxHeadRd.ebcCode 64.
- A message is a duplicate by type + root guid (a guid is unique per message type only).
- Lists: draft (appStatus 1), cancellation and return state, returned value and lines.
- Cancellations / returns (CEB623/625) and their receipts (CEB624/626).
- Notification switches for receipts that ask the buyer to act and for released / refused lists.

New NOT NULL columns are added with a server default, which fills the existing rows, and the
default is then dropped again: the models set their values (as for every other column).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOTIFY = ("notify_verify", "notify_over_limit", "notify_mismatch", "notify_list_status")


def upgrade() -> None:
    with op.batch_alter_table("tax_slips", schema=None) as batch_op:
        batch_op.alter_column("tax_no", existing_type=sa.String(length=40), type_=sa.String(length=50),
                              existing_nullable=False)
        batch_op.alter_column("ebc_code", existing_type=sa.String(length=18), type_=sa.String(length=64),
                              existing_nullable=True)
    with op.batch_alter_table("tax_status_events", schema=None) as batch_op:
        batch_op.alter_column("tax_no", existing_type=sa.String(length=40), type_=sa.String(length=50),
                              existing_nullable=False)

    with op.batch_alter_table("ingested_messages", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ingested_messages_guid", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_ingested_messages_msg_type_guid"), ["msg_type", "guid"])

    with op.batch_alter_table("bindings", schema=None) as batch_op:
        for name in _NOTIFY:
            batch_op.add_column(sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.true()))

    with op.batch_alter_table("inventories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("draft", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("cancel_state", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("cancel_time", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("cancel_info", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("refund_state", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("refund_time", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("refund_info", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("returned_value", storage.models.Dec5(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("returned_items", sa.Integer(), nullable=False, server_default=sa.text("0")))

    with op.batch_alter_table("inventory_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("returned_qty", storage.models.Dec5(), nullable=True))

    # The existing rows are filled; from now on the application writes these columns.
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        for name in _NOTIFY:
            batch_op.alter_column(name, existing_type=sa.Boolean(), existing_nullable=False, server_default=None)
    with op.batch_alter_table("inventories", schema=None) as batch_op:
        batch_op.alter_column("draft", existing_type=sa.Boolean(), existing_nullable=False, server_default=None)
        batch_op.alter_column("returned_value", existing_type=storage.models.Dec5(), existing_nullable=False,
                              server_default=None)
        batch_op.alter_column("returned_items", existing_type=sa.Integer(), existing_nullable=False,
                              server_default=None)

    op.create_table(
        "list_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("doc_no", sa.String(length=20), nullable=False),
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("ebc_code", sa.String(length=18), nullable=False),
        sa.Column("order_no", sa.String(length=60), nullable=False),
        sa.Column("invt_no", sa.String(length=18), nullable=True),
        sa.Column("cop_no", sa.String(length=20), nullable=True),
        sa.Column("pre_no", sa.String(length=18), nullable=True),
        sa.Column("app_type", sa.String(length=1), nullable=False),
        sa.Column("app_status", sa.String(length=1), nullable=False),
        sa.Column("app_time", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_requests")),
        sa.UniqueConstraint(
            "kind", "ebc_code", "order_no", "doc_no", name=op.f("uq_list_requests_kind_ebc_code_order_no_doc_no")
        ),
    )
    with op.batch_alter_table("list_requests", schema=None) as batch_op:
        batch_op.create_index("ix_list_requests_cop", ["cop_no", "ebc_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_list_requests_invt_no"), ["invt_no"], unique=False)
        batch_op.create_index(batch_op.f("ix_list_requests_pre_no"), ["pre_no"], unique=False)

    op.create_table(
        "list_request_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("gnum", sa.Integer(), nullable=False),
        sa.Column("qty", storage.models.Dec5(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["list_requests.id"], name=op.f("fk_list_request_lines_request_id_list_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_request_lines")),
        sa.UniqueConstraint("request_id", "gnum", name=op.f("uq_list_request_lines_request_id_gnum")),
    )

    op.create_table(
        "request_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("ebc_code", sa.String(length=18), nullable=True),
        sa.Column("cop_no", sa.String(length=20), nullable=True),
        sa.Column("pre_no", sa.String(length=18), nullable=True),
        sa.Column("invt_no", sa.String(length=18), nullable=True),
        sa.Column("return_status", sa.Integer(), nullable=False),
        sa.Column("return_time", sa.DateTime(), nullable=False),
        sa.Column("return_info", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_receipts")),
        sa.UniqueConstraint(
            "kind", "guid", "return_status", "return_time",
            name=op.f("uq_request_receipts_kind_guid_return_status_return_time"),
        ),
    )
    with op.batch_alter_table("request_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_request_receipts_cop", ["cop_no", "ebc_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_request_receipts_invt_no"), ["invt_no"], unique=False)
        batch_op.create_index(batch_op.f("ix_request_receipts_pre_no"), ["pre_no"], unique=False)


def downgrade() -> None:
    op.drop_table("request_receipts")
    op.drop_table("list_request_lines")
    op.drop_table("list_requests")
    with op.batch_alter_table("inventory_lines", schema=None) as batch_op:
        batch_op.drop_column("returned_qty")
    with op.batch_alter_table("inventories", schema=None) as batch_op:
        for name in ("returned_items", "returned_value", "refund_info", "refund_time", "refund_state",
                     "cancel_info", "cancel_time", "cancel_state", "draft"):
            batch_op.drop_column(name)
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        for name in reversed(_NOTIFY):
            batch_op.drop_column(name)
    with op.batch_alter_table("ingested_messages", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ingested_messages_msg_type_guid", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_ingested_messages_guid"), ["guid"])
    with op.batch_alter_table("tax_status_events", schema=None) as batch_op:
        batch_op.alter_column("tax_no", existing_type=sa.String(length=50), type_=sa.String(length=40),
                              existing_nullable=False)
    with op.batch_alter_table("tax_slips", schema=None) as batch_op:
        batch_op.alter_column("ebc_code", existing_type=sa.String(length=64), type_=sa.String(length=18),
                              existing_nullable=True)
        batch_op.alter_column("tax_no", existing_type=sa.String(length=50), type_=sa.String(length=40),
                              existing_nullable=False)
