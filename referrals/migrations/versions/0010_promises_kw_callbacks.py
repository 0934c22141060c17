"""callback requests: a resident accepted a person after the crisis reply

Revision ID: 0002_promises_kw
Revises: 0002_durable
Create Date: 2026-12-02

down_revision is the current head (0005), so this branch migrates on its own; the lead re-chains it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_promises_kw'
down_revision = '0002_durable'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'callback_requests',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('pseudonym', sa.String(length=128), nullable=False),
        sa.Column('reason', sa.String(length=20), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('language', sa.String(length=5), nullable=False),
        sa.Column('preferred_time', sa.String(length=60), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('call_by', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_callback_requests_pseudonym', 'callback_requests', ['pseudonym'])
    op.create_index('ix_callback_requests_requested_at', 'callback_requests', ['requested_at'])


def downgrade() -> None:
    op.drop_index('ix_callback_requests_requested_at', table_name='callback_requests')
    op.drop_index('ix_callback_requests_pseudonym', table_name='callback_requests')
    op.drop_table('callback_requests')
