"""opt-outs, consents, crisis flags and the follow-up of a closed case

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sms_opt_outs',
        sa.Column('pseudonym', sa.String(length=128), nullable=False),
        sa.Column('opted_out', sa.Boolean(), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('pseudonym'),
    )
    op.create_table(
        'consents',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('pseudonym', sa.String(length=128), nullable=False),
        sa.Column('scope', sa.String(length=20), nullable=False),
        sa.Column('granted', sa.Boolean(), nullable=False),
        sa.Column('wording', sa.Text(), nullable=False),
        sa.Column('language', sa.String(length=5), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['pseudonym'], ['residents.pseudonym'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_consents_pseudonym', 'consents', ['pseudonym'])
    op.create_table(
        'crisis_flags',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('pseudonym', sa.String(length=128), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('language', sa.String(length=5), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_crisis_flags_pseudonym', 'crisis_flags', ['pseudonym'])
    op.create_index('ix_crisis_flags_created_at', 'crisis_flags', ['created_at'])
    with op.batch_alter_table('referral_cases') as batch:
        batch.add_column(sa.Column('followup_status', sa.String(length=30), nullable=True))
        batch.add_column(sa.Column('followup_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('referral_cases') as batch:
        batch.drop_column('followup_at')
        batch.drop_column('followup_status')
    op.drop_table('crisis_flags')
    op.drop_table('consents')
    op.drop_table('sms_opt_outs')
