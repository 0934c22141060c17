"""directory updates: eligibility used for matching (x_eligibility or derived), retired programs

Revision ID: 0002_hsds
Revises: 0005
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_hsds'
# Chained after the current head so `upgrade head` has one head on this branch; the lead re-chains at merge.
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('programs') as batch:
        batch.add_column(sa.Column('eligibility', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('programs') as batch:
        batch.drop_column('retired_at')
        batch.drop_column('eligibility')
