"""exactly-once handling of Twilio messages (the gateway's per-conversation state lives in the
conversation store, bot/stores.py)

Revision ID: 0002_durable
Revises: 0002_reports
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_durable'
down_revision = '0002_reports'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_messages') as batch:
        # processing | done | failed; `reply` holds the bot's own reply bodies (never the resident's text)
        # so a Twilio retry of an answered message gets the same answer. Cleared by the purge.
        batch.add_column(sa.Column('state', sa.String(length=12), nullable=False, server_default='done'))
        batch.add_column(sa.Column('reply', sa.Text(), nullable=True))
        batch.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbound_messages') as batch:
        batch.drop_column('updated_at')
        batch.drop_column('reply')
        batch.drop_column('state')
