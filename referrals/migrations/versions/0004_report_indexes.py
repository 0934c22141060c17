"""indexes for the equity report over the referral log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

The report reads two slices of referral_log: the `created` rows (with every column it groups by) and the
`status` rows. Both indexes cover their slice, so the table itself is never read. Their column order
differs by database, because the two databases run the report differently (referrals/reports.py).
"""
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


DIMENSIONS = ['need', 'program_id', 'neighborhood', 'age_band', 'language', 'channel', 'race_ethnicity', 'gender']


def upgrade() -> None:
    if op.get_context().dialect.name == 'sqlite':
        # No hash join in SQLite: it walks the period's created rows in referral_id order and looks up each
        # referral's status rows, so both indexes are in referral_id order and the lookups read the status
        # index front to back instead of jumping around it.
        created = ['event', 'referral_id', 'occurred_at'] + DIMENSIONS
        status = ['event', 'referral_id', 'occurred_at', 'status']
    else:
        # PostgreSQL hash-joins the two slices: each index gives just the rows of the period, in one range.
        created = ['event', 'occurred_at', 'referral_id'] + DIMENSIONS
        status = ['event', 'status', 'occurred_at', 'referral_id']
    op.create_index('ix_referral_log_created_slice', 'referral_log', created)
    op.create_index('ix_referral_log_status_slice', 'referral_log', status)


def downgrade() -> None:
    op.drop_index('ix_referral_log_status_slice', table_name='referral_log')
    op.drop_index('ix_referral_log_created_slice', table_name='referral_log')
