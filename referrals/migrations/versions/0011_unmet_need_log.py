"""unmet-need log: anonymous rows for requests that ended without a referral (issue 12, item 4)

Revision ID: 0002_unmet
Revises: 0002_promises_kw
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_unmet'
down_revision = '0002_promises_kw'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'unmet_need_log',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('reason', sa.String(length=20), nullable=False),
        sa.Column('need', sa.String(length=40), nullable=False),
        sa.Column('neighborhood', sa.String(length=100), nullable=True),
        sa.Column('age_band', sa.String(length=20), nullable=True),
        sa.Column('language', sa.String(length=5), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_unmet_need_log_occurred_at', 'unmet_need_log', ['occurred_at'])


def downgrade() -> None:
    op.drop_index('ix_unmet_need_log_occurred_at', table_name='unmet_need_log')
    op.drop_table('unmet_need_log')
