"""tg_users.bind_message_id: the newest message the in-chat binding flow took a step on

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Telegram delivers an update again when its answer was lost (an instance killed after the step
committed). The flow compares a message's id with this one: a message it has already taken a
step on is answered with the step the person is at, not read as the next step's input.
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
        batch_op.add_column(sa.Column("bind_message_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tg_users", schema=None) as batch_op:
        batch_op.drop_column("bind_message_id")
