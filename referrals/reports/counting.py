"""Counting the equity tables in SQL: referrals, contact and enrollment by group, built only from the
anonymous referral log (and the unmet-need log).

What a table counts. A referral belongs to a month when its `created` row falls in it (UTC). It counts as
*contacted* when a `status` row within OUTCOME_DAYS of the referral says contacted or an outcome that needs
contact (enrolled, not eligible, declined), and as *enrolled* when one says enrolled. The window is per
referral, not per period, so a quarter is exactly the sum of its three months and a year of its twelve:
that is what lets referrals/reports/releases.py suppress months, quarters and the year as one system.

Why all counting happens in SQL. One statement reads the log once and groups every referral of the range
by month and two composite keys; Python only sees a few thousand group totals.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Iterable

from sqlalchemy import String, case, func, literal, null, select, text, tuple_, union_all
from sqlalchemy.orm import Session

from referrals.models import ProgramRow, ReferralLogEntry, UnmetNeedEntry
from referrals.reports.dimensions import OUTCOME_DAYS, UNMET_TOTAL, Cells, GroupCount

# Statuses that mean the caseworker reached the resident (the outcomes after "contacted" need contact).
CONTACTED_STATUSES: tuple[str, ...] = ("contacted", "enrolled", "not_eligible", "declined")
ENROLLED_STATUS = "enrolled"

def _month_expr(dialect: str, column):
    if dialect == "postgresql":  # a timestamp; made 'YYYY-MM' in Python, after grouping
        return func.date_trunc("month", func.timezone("UTC", column))
    return func.substr(column, 1, 7)  # SQLite stores UTC as 'YYYY-MM-DD HH:MM:SS...'


# The dimensions are counted in two groupings over composite keys, not one per dimension: each grouping
# is a sort of every referral of the range on SQLite (no hash aggregation there), and the composites stay
# small (a few thousand groups), so Python adds them up per dimension and month cheaply.
_COMPOSITES: dict[str, tuple[str, ...]] = {
    "a": ("month", "need", "program_id"),
    "b": ("month", "language", "channel", "neighborhood", "age_band", "gender", "race_ethnicity"),
}
_KEYS = ("month", "need", "program_id", "language", "channel", "neighborhood", "age_band", "gender",
         "race_ethnicity")
_FROM_COMPOSITE: dict[str, tuple[str, str]] = {
    "total": ("a", ""), "month": ("a", "month"), "need": ("a", "need"), "program": ("a", "program_id"),
    **{dim: ("b", dim) for dim in _COMPOSITES["b"][1:]},
}


def _outcome_level(status):
    """Aggregate over a referral's status rows: 2 enrolled, 1 contacted but not enrolled, 0/NULL not reached."""
    return func.max(case((status == ENROLLED_STATUS, 2), (status.in_(CONTACTED_STATUSES), 1), else_=0))


def _grouped(session: Session, start_at: datetime, end_before: datetime, outcome_days: int):
    """Rows (part, the nine keys, referrals, contacted, enrolled): one per composite group of each part."""
    table = ReferralLogEntry.__table__
    log = table.c
    dialect = session.get_bind().dialect.name
    days = int(outcome_days)
    dims = [log.referral_id, log.occurred_at.label("created_at"), log.need, log.program_id,
            func.coalesce(log.neighborhood, "").label("neighborhood"),
            func.coalesce(log.age_band, "").label("age_band"),
            log.language, log.channel,
            case((log.race_ethnicity.is_(None), "not_asked"), (log.race_ethnicity.like("%,%"), "multiple"),
                 else_=log.race_ethnicity).label("race_ethnicity"),
            func.coalesce(log.gender, "not_asked").label("gender"),
            _month_expr(dialect, log.occurred_at).label("month")]
    in_range = (log.event == "created", log.occurred_at >= start_at, log.occurred_at < end_before)

    def measures(r):
        return (func.count().label("referrals"), func.sum(case((r.outcome >= 1, 1), else_=0)).label("contacted"),
                func.sum(case((r.outcome == 2, 1), else_=0)).label("enrolled"))

    if dialect == "postgresql":
        # Hash joins and one pass of hash aggregation over both grouping sets.
        created = select(*dims).where(*in_range).subquery("created")
        s = table.alias("s")
        reached = (select(created.c.referral_id.label("rid"), _outcome_level(s.c.status).label("outcome"))
                   .select_from(created.join(s, s.c.referral_id == created.c.referral_id))
                   .where(s.c.event == "status", s.c.status.in_(CONTACTED_STATUSES),
                          s.c.occurred_at < created.c.created_at + text(f"interval '{days} days'"))
                   .group_by(created.c.referral_id).subquery("reached"))
        r = (select(created, reached.c.outcome)
             .select_from(created.outerjoin(reached, reached.c.rid == created.c.referral_id))
             .subquery("referrals")).c
        sets = [tuple_(*[getattr(r, k) for k in cols]) for cols in _COMPOSITES.values()]
        part = case((func.grouping(r.need) == 0, "a"), else_="b").label("part")
        # For this transaction only: room to hash instead of sorting on disk; no JIT compile for one query;
        # and never a nested loop: right after a bulk load, before autovacuum has analyzed the table, the
        # planner guesses one row per side and a nested loop over two slices of the log takes minutes.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL enable_nestloop = off"))
        return session.execute(select(part, *[getattr(r, k) for k in _KEYS], *measures(r))
                               .group_by(func.grouping_sets(*sets)))
    # SQLite has no hash join: look each referral's status rows up in the status index, walking the
    # created rows in referral_id order so that the lookups read the index front to back.
    s = table.alias("s")
    outcome = (select(_outcome_level(s.c.status))
               .where(s.c.event == "status", s.c.referral_id == log.referral_id,
                      s.c.occurred_at < func.datetime(log.occurred_at, f"+{days} days"))
               .scalar_subquery())
    r = (select(*dims[2:], outcome.label("outcome")).where(*in_range)  # referral_id only orders the walk
         .order_by(log.referral_id).cte("referrals")).c
    parts = [select(literal(name, String).label("part"),
                    *[(getattr(r, k) if k in cols else null()).label(k) for k in _KEYS], *measures(r))
             .group_by(*[getattr(r, k) for k in cols]) for name, cols in _COMPOSITES.items()]
    return session.execute(union_all(*parts))


def _count_unmet(session: Session, start_at: datetime, end_before: datetime, out: dict[str, Cells]) -> None:
    """Add the unmet-need cells of each month to `out`: [every unmet request, no program could take it,
    no program fit] per group (see UNMET_DIMENSIONS). Only months with unmet rows get them."""
    log = UnmetNeedEntry.__table__.c
    dialect = session.get_bind().dialect.name
    u = (select(_month_expr(dialect, log.occurred_at).label("month"), log.need,
                func.coalesce(log.neighborhood, "").label("neighborhood"), log.language, log.reason)
         .where(log.occurred_at >= start_at, log.occurred_at < end_before).subquery("unmet")).c
    rows = session.execute(
        select(u.month, u.need, u.neighborhood, u.language, func.count().label("n"),
               func.sum(case((u.reason != "declined", 1), else_=0)).label("c"),
               func.sum(case((u.reason == "no_program", 1), else_=0)).label("e"))
        .group_by(u.month, u.need, u.neighborhood, u.language))
    for row in rows:
        month_key = row.month.strftime("%Y-%m") if isinstance(row.month, datetime) else str(row.month)
        cells = out.setdefault(month_key, {("total", "all", None): [0, 0, 0]})
        for key in ((UNMET_TOTAL, "all", None), ("unmet_need", row.need, None),
                    ("unmet_neighborhood", row.neighborhood, None), ("unmet_language", row.language, None)):
            acc = cells.setdefault(key, [0, 0, 0])
            acc[0] += row.n
            acc[1] += int(row.c or 0)
            acc[2] += int(row.e or 0)


def count_months(session: Session, first: date, last: date, outcome_days: int = OUTCOME_DAYS
                 ) -> dict[str, Cells]:
    """Raw cells of every month from the month of `first` to the month of `last`, in one statement
    (and one more for the unmet-need log).

    Every month of the range is in the result, with a citywide cell, even when it had no referrals.
    """
    start_at = datetime(first.year, first.month, 1, tzinfo=timezone.utc)
    ny, nm = (last.year + 1, 1) if last.month == 12 else (last.year, last.month + 1)
    end_before = datetime(ny, nm, 1, tzinfo=timezone.utc)
    out: dict[str, Cells] = {}
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        out[f"{y:04d}-{m:02d}"] = {("total", "all", None): [0, 0, 0]}
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    for row in _grouped(session, start_at, end_before, outcome_days):
        month_value = row.month
        month_key = month_value.strftime("%Y-%m") if isinstance(month_value, datetime) else str(month_value)
        cells = out.setdefault(month_key, {("total", "all", None): [0, 0, 0]})
        for dim, (part, col) in _FROM_COMPOSITE.items():
            if part != row.part:
                continue
            key = month_key if dim == "month" else (str(getattr(row, col)) if col else "all")
            acc = cells.setdefault((dim, key, row.need if dim == "program" else None), [0, 0, 0])
            acc[0] += row.referrals
            acc[1] += int(row.contacted or 0)
            acc[2] += int(row.enrolled or 0)
    _count_unmet(session, start_at, end_before, out)
    return out


def period_counts(months: dict[str, Cells], wanted: Iterable[str]) -> list[GroupCount]:
    """The group totals of a period: the sum of its months' raw cells."""
    sums: dict[tuple[str, str, str | None], list[int]] = {("total", "all", None): [0, 0, 0]}
    for m in wanted:
        for key, (n, c, e) in months.get(m, {}).items():
            acc = sums.setdefault(key, [0, 0, 0])
            acc[0] += n
            acc[1] += c
            acc[2] += e
    return [GroupCount(dim, key, parent, *acc) for (dim, key, parent), acc in sums.items()]


def program_names(session: Session) -> dict[str, str]:
    return {pid: name for pid, name in session.execute(select(ProgramRow.id, ProgramRow.name))}
