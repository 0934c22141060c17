"""live handoff and case texts: conversations with a person, their sealed messages, the anonymous handoff
log, and the texts between a caseworker and a referred resident

Revision ID: 0011_live
Revises: 0002_unmet
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_live'
down_revision = '0002_unmet'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'live_conversations',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('pseudonym', sa.String(length=128), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('language', sa.String(length=5), nullable=False),
        sa.Column('team', sa.String(length=300), nullable=False),
        sa.Column('need', sa.String(length=40), nullable=True),
        sa.Column('neighborhood', sa.String(length=100), nullable=True),
        sa.Column('asked', sa.String(length=200), nullable=True),
        sa.Column('crisis', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('taken_by', sa.Integer(), nullable=True),
        sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['pseudonym'], ['residents.pseudonym'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_live_conversations_pseudonym', 'live_conversations', ['pseudonym'])
    op.create_index('ix_live_conversations_team', 'live_conversations', ['team'])
    op.create_index('ix_live_conversations_status', 'live_conversations', ['status'])
    op.create_table(
        'live_messages',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('conversation_id', sa.String(length=36), nullable=False),
        sa.Column('sender', sa.String(length=10), nullable=False),
        sa.Column('sealed', sa.Text(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('delivery', sa.String(length=20), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['live_conversations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_live_messages_conversation_id', 'live_messages', ['conversation_id'])
    op.create_table(
        'handoff_log',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('event', sa.String(length=20), nullable=False),
        sa.Column('team', sa.String(length=300), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('language', sa.String(length=5), nullable=False),
        sa.Column('need', sa.String(length=40), nullable=True),
        sa.Column('neighborhood', sa.String(length=100), nullable=True),
        sa.Column('crisis', sa.Boolean(), nullable=False),
        sa.Column('wait_seconds', sa.Integer(), nullable=True),
        sa.Column('outcome', sa.String(length=20), nullable=True),
        sa.Column('occurred_on', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_handoff_log_occurred_on', 'handoff_log', ['occurred_on'])
    op.create_table(
        'case_messages',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('referral_id', sa.String(length=36), nullable=False),
        sa.Column('sender', sa.String(length=10), nullable=False),
        sa.Column('sealed', sa.Text(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('delivery', sa.String(length=20), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['referral_id'], ['referral_cases.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_case_messages_referral_id', 'case_messages', ['referral_id'])


def downgrade() -> None:
    op.drop_index('ix_case_messages_referral_id', table_name='case_messages')
    op.drop_table('case_messages')
    op.drop_index('ix_handoff_log_occurred_on', table_name='handoff_log')
    op.drop_table('handoff_log')
    op.drop_index('ix_live_messages_conversation_id', table_name='live_messages')
    op.drop_table('live_messages')
    op.drop_index('ix_live_conversations_status', table_name='live_conversations')
    op.drop_index('ix_live_conversations_team', table_name='live_conversations')
    op.drop_index('ix_live_conversations_pseudonym', table_name='live_conversations')
    op.drop_table('live_conversations')
