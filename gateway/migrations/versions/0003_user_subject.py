"""users: a random subject for tokens, so a token never names a later user who got the same id

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("subject", sa.String(length=32), nullable=True))
    users = sa.table("users", sa.column("id", sa.Integer()), sa.column("subject", sa.String()))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(users.update().where(users.c.id == user_id).values(subject=secrets.token_hex(16)))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("subject", existing_type=sa.String(length=32), nullable=False)
    op.create_index("ix_users_subject", "users", ["subject"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_users_subject", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("subject")
