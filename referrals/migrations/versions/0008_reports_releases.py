"""report releases: stored, numbered revisions of the equity report over whole calendar periods

Revision ID: 0002_reports
Revises: 0002_security
Create Date: 2026-12-02

(Named 0002_<branch> for the integration; it sits on top of 0005, the head of this branch, so that
`upgrade head` has one head. The lead re-chains it at merge.)
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_reports'
down_revision = '0002_security'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_releases',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('period', sa.String(length=20), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('fiscal_year', sa.Integer(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('pending', sa.Boolean(), nullable=False),
        sa.Column('published_on', sa.Date(), nullable=False),
        sa.Column('outcomes_final_on', sa.Date(), nullable=True),
        sa.Column('protection', sa.Float(), nullable=True),
        sa.Column('cells', sa.JSON(), nullable=False),
        sa.Column('month_cells', sa.JSON(), nullable=False),
        sa.Column('csv', sa.Text(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('html', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('period', 'revision', name='uq_report_releases_period_revision'),
    )
    op.create_index('ix_report_releases_fiscal_year', 'report_releases', ['fiscal_year'])


def downgrade() -> None:
    op.drop_index('ix_report_releases_fiscal_year', table_name='report_releases')
    op.drop_table('report_releases')
