"""contact vault and handled Twilio message ids

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'contact_vault',
        sa.Column('pseudonym', sa.String(length=128), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('ciphertext', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['pseudonym'], ['residents.pseudonym'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pseudonym'),
    )
    op.create_table(
        'inbound_messages',
        sa.Column('message_sid', sa.String(length=64), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('message_sid'),
    )
    op.create_index('ix_inbound_messages_received_at', 'inbound_messages', ['received_at'])
    with op.batch_alter_table('referral_log') as batch:
        batch.add_column(sa.Column('race_ethnicity', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('gender', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('referral_log') as batch:
        batch.drop_column('gender')
        batch.drop_column('race_ethnicity')
    op.drop_index('ix_inbound_messages_received_at', table_name='inbound_messages')
    op.drop_table('inbound_messages')
    op.drop_table('contact_vault')
