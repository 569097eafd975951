"""model versions judged by feedback: the label that answered, the model server's time, verdicts, admins

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("model_label", sa.String(length=64), nullable=True))
    op.add_column("predictions", sa.Column("serving_ms", sa.Float(), nullable=True))
    op.create_index("ix_predictions_model", "predictions", ["model_name", "model_version"])
    op.add_column("feedback", sa.Column("verdict", sa.String(length=16), nullable=True))
    op.add_column("feedback", sa.Column("correct_label", sa.String(length=255), nullable=True))
    op.add_column("users", sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_admin")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("correct_label")
        batch.drop_column("verdict")
    op.drop_index("ix_predictions_model", table_name="predictions")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("serving_ms")
        batch.drop_column("model_label")
