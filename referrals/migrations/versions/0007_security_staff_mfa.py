"""staff security: TOTP MFA and recovery codes, sign-in throttling, session details and re-authentication

Revision ID: 0002_security
Revises: 0002_hsds (chained after the directory updates at merge; it must come after 0003, which makes
staff_users and staff_sessions)
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_security'
down_revision = '0002_hsds'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_users') as batch:
        batch.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('totp_enrolled_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('staff_sessions') as batch:
        batch.add_column(sa.Column('mfa_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('auth_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('address', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('user_agent', sa.String(length=200), nullable=True))
    op.create_table(
        'staff_recovery_codes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['staff_users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_staff_recovery_codes_user_id', 'staff_recovery_codes', ['user_id'])
    op.create_table(
        'login_throttle',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index('ix_login_throttle_last_failure_at', 'login_throttle', ['last_failure_at'])


def downgrade() -> None:
    op.drop_index('ix_login_throttle_last_failure_at', table_name='login_throttle')
    op.drop_table('login_throttle')
    op.drop_index('ix_staff_recovery_codes_user_id', table_name='staff_recovery_codes')
    op.drop_table('staff_recovery_codes')
    with op.batch_alter_table('staff_sessions') as batch:
        batch.drop_column('user_agent')
        batch.drop_column('address')
        batch.drop_column('auth_at')
        batch.drop_column('mfa_at')
    with op.batch_alter_table('staff_users') as batch:
        batch.drop_column('password_changed_at')
        batch.drop_column('totp_last_step')
        batch.drop_column('totp_enrolled_at')
        batch.drop_column('totp_secret')
