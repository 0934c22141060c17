"""staff accounts, portal sessions, audit log, case events; claim columns on referral cases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'staff_users',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('username', sa.String(length=80), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('organization', sa.String(length=300), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('failed_logins', sa.Integer(), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('username'),
    )
    op.create_table(
        'staff_sessions',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['staff_users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_staff_sessions_user_id', 'staff_sessions', ['user_id'])
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('username', sa.String(length=80), nullable=True),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('referral_id', sa.String(length=36), nullable=True),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_index('ix_audit_log_user_id', 'audit_log', ['user_id'])
    op.create_index('ix_audit_log_referral_id', 'audit_log', ['referral_id'])
    op.create_table(
        'case_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('referral_id', sa.String(length=36), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['referral_id'], ['referral_cases.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_case_events_referral_id', 'case_events', ['referral_id'])
    with op.batch_alter_table('referral_cases') as batch:
        batch.add_column(sa.Column('claimed_by', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('preferred_contact_time', sa.String(length=100), nullable=True))
        batch.create_index('ix_referral_cases_claimed_by', ['claimed_by'])


def downgrade() -> None:
    with op.batch_alter_table('referral_cases') as batch:
        batch.drop_index('ix_referral_cases_claimed_by')
        batch.drop_column('preferred_contact_time')
        batch.drop_column('claimed_at')
        batch.drop_column('claimed_by')
    op.drop_index('ix_case_events_referral_id', table_name='case_events')
    op.drop_table('case_events')
    op.drop_index('ix_audit_log_referral_id', table_name='audit_log')
    op.drop_index('ix_audit_log_user_id', table_name='audit_log')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index('ix_staff_sessions_user_id', table_name='staff_sessions')
    op.drop_table('staff_sessions')
    op.drop_table('staff_users')
