"""predictions: original file name, per-user cache and history indexes; feedback without a prediction removed

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("original_file_name", sa.String(length=255), nullable=True))
    op.drop_index("ix_predictions_cache_key", table_name="predictions")
    op.create_index(
        "ix_predictions_user_cache_key", "predictions", ["user_id", "md5", "model_name", "model_version"]
    )
    op.create_index("ix_predictions_user_history", "predictions", ["user_id", "id"])
    # Feedback used to be accepted for any file name, stored unlinked: it refers to no prediction.
    op.execute(sa.text("DELETE FROM feedback WHERE prediction_id IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_predictions_user_history", table_name="predictions")
    op.drop_index("ix_predictions_user_cache_key", table_name="predictions")
    op.create_index("ix_predictions_cache_key", "predictions", ["md5", "model_name", "model_version"])
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("original_file_name")
