"""tg_users.input_message_id: the newest message a typed step consumed

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Telegram delivers an update again when its answer was lost (an instance killed after the step
committed). A typed step (the binding flow's name, ID number and contact; a calculator amount; a
searched number) compares a message's id with this one: a message already consumed is answered
with where it led (the flow's current step, the estimate or the list shown), not read as new
input.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tg_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("input_message_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tg_users", schema=None) as batch_op:
        batch_op.drop_column("input_message_id")
