"""Equity tables: referrals, contact and enrollment by group, built only from the anonymous referral log.

What a table counts. A referral belongs to a month when its `created` row falls in it (UTC). It counts as
*contacted* when a `status` row within OUTCOME_DAYS of the referral says contacted or an outcome that needs
contact (enrolled, not eligible, declined), and as *enrolled* when one says enrolled. The window is per
referral, not per period, so a quarter is exactly the sum of its three months and a year of its twelve:
that is what lets referrals/reports/releases.py suppress months, quarters and the year as one system.

Why all counting happens in SQL. One statement reads the log once and groups every referral of the range
by month and two composite keys; Python only sees a few thousand group totals.

Why the small-cell rule is more than "hide 1 to 10". A reader can add and subtract what is shown: total
minus the shown groups gives the hidden ones, referrals minus contacted gives "not contacted", and the need
table adds up to the programs of each need. So each table is treated as a tree of cells (citywide total,
groups, and for programs: need, then program within need) over three disjoint counts per group: enrolled,
contacted but not enrolled, not contacted. After the primary rule (no shown count and no difference of
two shown counts of a group from 1 to 10) an audit searches every sum and difference of shown cells that
adds up to a count of people (a set of those disjoint counts) and checks none of them is from 1 to 10;
while one is, the smallest cell used to work it out is suppressed too (complementary suppression). The
search is exact for exact derivation by sums and differences within one table (see `_values`). What one
table cannot see (other tables, other periods, other revisions, bounds) is the job of the release layer
and its linear-programming attacker (releases.py, attack.py).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from sqlalchemy import String, case, func, literal, null, select, text, tuple_, union_all
from sqlalchemy.orm import Session

from referrals.models import ProgramRow, ReferralLogEntry, UnmetNeedEntry

if TYPE_CHECKING:
    from referrals.reports.calendar import ReleasePeriod

# --- what is counted ---------------------------------------------------------------------------

# Statuses that mean the caseworker reached the resident (the outcomes after "contacted" need contact).
CONTACTED_STATUSES: tuple[str, ...] = ("contacted", "enrolled", "not_eligible", "declined")
ENROLLED_STATUS = "enrolled"

SMALL_MAX = 10          # counts 1..SMALL_MAX are never shown nor derivable
UNSTABLE_BELOW = 20     # rates on fewer referrals than this are flagged
SUPPRESSED = "*"        # how a hidden cell reads in text and CSV
FLAG = "!"              # mark of a rate on fewer than UNSTABLE_BELOW referrals

NEED_LABELS: dict[str, str] = {
    "employment": "Finding a job",
    "job_training": "Job training",
    "wages": "Problems with pay",
    "city_jobs": "City jobs",
    "small_business": "Small business",
    "savings": "Saving money",
    "financial_coaching": "Debt, credit, taxes",
    "basic_needs": "Rent or food now",
    "human": "Talk to a person",
    "crisis": "Crisis",
    "out_of_scope": "Other",
}
AGE_LABELS: dict[str, str] = {
    "under_18": "Under 18", "18_24": "18 to 24", "25_54": "25 to 54", "55_64": "55 to 64",
    "65_plus": "65 or older",
}
LANGUAGE_LABELS: dict[str, str] = {"en": "English", "es": "Spanish"}
CHANNEL_LABELS: dict[str, str] = {"sms": "Text message (SMS)", "web": "Web chat",
                                  "terminal": "Terminal (staff test)"}
# OMB SPD 15 (2024 revision) minimum categories. A person may pick several: they are counted once, under
# "Multiracial and/or multiethnic", so each table still adds up to the total.
RACE_ETHNICITY_LABELS: dict[str, str] = {
    "american_indian_alaska_native": "American Indian or Alaska Native",
    "asian": "Asian",
    "black_african_american": "Black or African American",
    "hispanic_latino": "Hispanic or Latino",
    "middle_eastern_north_african": "Middle Eastern or North African",
    "native_hawaiian_pacific_islander": "Native Hawaiian or Pacific Islander",
    "white": "White",
    "multiple": "Multiracial and/or multiethnic (more than one)",
}
# SPD 15 has no gender categories; these are the codes the conversation stores (actions/answers.py).
GENDER_LABELS: dict[str, str] = {"woman": "Woman", "man": "Man", "another": "Another gender (e.g. nonbinary)"}
# "" is an unknown neighborhood or age band, or a demographic question asked but not answered.
COMMON_LABELS: dict[str, str] = {
    "prefer_not_to_say": "Prefer not to say", "not_asked": "Not asked (no consent to analytics)",
    "": "Not given",
}

DIMENSIONS: dict[str, str] = {
    "need": "Need",
    "program": "Program (within need)",
    "neighborhood": "Neighborhood",
    "language": "Language",
    "channel": "Channel",
    "age_band": "Age band",
    "race_ethnicity": "Race and ethnicity (self-reported, with consent)",
    "gender": "Gender (self-reported, with consent)",
    "month": "Month (trend)",
}
# Unmet need (issue 12, item 4): requests that ended without a referral, from the anonymous unmet-need
# log. Its own population with its own citywide cell ("unmet_total"), suppressed by the same machinery
# as the referral tables. Its three reasons are disjoint, so they fill the three nested measures the
# suppression and the attacker know: N = every unmet request, C = those no program could take (no program
# fit or all full), E = those no program fit at all. So all_full = C - E and declined = N - C, and the
# audits of differences cover them.
UNMET_DIMENSIONS: dict[str, str] = {
    "unmet_need": "Unmet need, by need",
    "unmet_neighborhood": "Unmet need, by neighborhood",
    "unmet_language": "Unmet need, by language",
}
UNMET_TOTAL = "unmet_total"
# The citywide cell each table adds up to.
ROOTS: tuple[str, ...] = ("total", UNMET_TOTAL)


def root_of(dimension: str) -> str:
    return UNMET_TOTAL if dimension in UNMET_DIMENSIONS or dimension == UNMET_TOTAL else "total"


_LABELS: dict[str, dict[str, str]] = {
    "need": NEED_LABELS, "neighborhood": {}, "language": LANGUAGE_LABELS, "channel": CHANNEL_LABELS,
    "age_band": AGE_LABELS, "race_ethnicity": RACE_ETHNICITY_LABELS, "gender": GENDER_LABELS, "month": {},
    "unmet_need": NEED_LABELS, "unmet_neighborhood": {}, "unmet_language": LANGUAGE_LABELS,
}


class ReportError(ValueError):
    """A report request a person can fix (bad date, unknown dimension); the message says how."""


def parse_dimensions(text: str | None) -> tuple[str, ...]:
    """`need,neighborhood` -> ("need", "neighborhood"); empty means all dimensions."""
    if not text or not text.strip():
        return tuple(DIMENSIONS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise ReportError(f"unknown dimension(s) {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}")
    return tuple(dict.fromkeys(names))


# --- counting in SQL -------------------------------------------------------------------------------

OUTCOME_DAYS = 90  # outcomes count when recorded within this many days of the referral (per referral)

# Raw counts of one month: (dimension, group key, parent key or None) -> [referrals, contacted, enrolled].
# "total" / "all" is the citywide cell. Never shown before suppression.
Cells = dict[tuple[str, str, "str | None"], list[int]]


@dataclass(frozen=True)
class GroupCount:
    """Raw counts of one group over a whole period: never shown before suppression."""

    dimension: str
    key: str
    parent: str | None
    referrals: int
    contacted: int
    enrolled: int


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


# --- small-cell suppression -------------------------------------------------------------------------
#
# A table is a tree of nodes: the root (citywide), its groups, and for programs a level in between (need).
# Each node shows three cells: N (referrals), C (contacted), E (enrolled). Underneath, each leaf holds three
# disjoint counts ("atoms"): a = E, b = C - E, c = N - C. A reader knows the value of every shown cell and
# can take any linear combination of them. A combination counts people exactly when its coefficient on
# every atom is 0 or 1. Writing beta for the coefficient a combination gives, per node and column, to the
# cells of that node's subtree (the sum of the multipliers of the shown cells above it), a leaf's atom
# coefficients are c = bN, b = bN + bC, a = bN + bC + bE; so bN is 0 or 1 and bC, bE are -1, 0 or 1. A
# hidden cell takes its parent's beta, a shown one may take any. `_values` enumerates those choices with
# a subset-sum over children and returns every count of people a reader can work out (capped at 11).

N, C, E = 0, 1, 2
_DOMAINS = ((0, 1), (-1, 0, 1), (-1, 0, 1))
_CAP = SMALL_MAX + 1
_CAP_BIT = 1 << _CAP
_SMALL_BITS = ((1 << _CAP) - 1) & ~1          # values 1..10
# leaf patterns (include a, include b, include c) and the beta that yields each
_PATTERNS = tuple(((pc, pb - pc, pa - pb), (pa, pb, pc)) for pc in (0, 1) for pb in (0, 1) for pa in (0, 1))


@dataclass(eq=False)
class Node:
    """A cell group of a table: true counts (N, C, E), children, and which of the three cells are shown."""

    key: str
    counts: tuple[int, int, int]
    children: list["Node"] = field(default_factory=list)
    shown: list[bool] = field(default_factory=lambda: [True, True, True])
    forced: set[int] = field(default_factory=set)  # cells hidden from outside (other tables, periods)

    def walk(self) -> Iterator["Node"]:
        yield self
        for child in self.children:
            yield from child.walk()

    def atoms(self) -> tuple[int, int, int]:
        n, c, e = self.counts
        return e, c - e, n - c


def _small(v: int) -> bool:
    return 1 <= v <= SMALL_MAX


def _bit(v: int) -> int:
    return 1 << min(v, _CAP)


def _add(x: int, y: int) -> int:
    """Sumset of two value sets (bitsets over 0..10 plus 'more than 10')."""
    out, i = 0, 0
    while x:
        if x & 1:
            out |= y << i
        x >>= 1
        i += 1
    if out >> _CAP:
        out = (out & (_CAP_BIT - 1)) | _CAP_BIT
    return out


def primary_shown(counts: tuple[int, int, int], allowed: Sequence[bool] = (True, True, True)) -> list[bool]:
    """The cells of one node to show: no shown value and no difference of two shown values from 1 to 10.

    Keeps referrals first, then contacted, then enrolled.
    """
    for mask in ((1, 1, 1), (1, 1, 0), (1, 0, 1), (1, 0, 0), (0, 1, 1), (0, 1, 0), (0, 0, 1), (0, 0, 0)):
        shown = [bool(m) and allowed[k] for k, m in enumerate(mask)]
        values = [counts[k] for k in range(3) if shown[k]]
        if any(_small(v) for v in values):
            continue
        if any(_small(abs(x - y)) for i, x in enumerate(values) for y in values[i + 1:]):
            continue
        return shown
    return [False, False, False]


class _Audit:
    """Which counts of people a reader can work out exactly from the shown cells of one tree."""

    def __init__(self, root: Node):
        self.root = root
        self.memo: dict[tuple[int, tuple], int] = {}

    def _betas(self, node: Node, inherited: tuple[int, int, int]) -> Iterator[tuple[int, int, int]]:
        opts = [(_DOMAINS[k] if node.shown[k] else (inherited[k],)) for k in range(3)]
        for bn in opts[N]:
            for bc in opts[C]:
                for be in opts[E]:
                    yield bn, bc, be

    def _leaf_choices(self, node: Node, inherited) -> Iterator[tuple[tuple[int, int, int], int]]:
        a, b, c = node.atoms()
        for beta, (pa, pb, pc) in _PATTERNS:
            if all(node.shown[k] or beta[k] == inherited[k] for k in range(3)):
                yield beta, pa * a + pb * b + pc * c

    def values(self, node: Node, inherited: tuple[int, int, int]) -> int:
        key = (id(node), tuple(None if node.shown[k] else inherited[k] for k in range(3)))
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        out = 0
        if not node.children:
            for _beta, v in self._leaf_choices(node, inherited):
                out |= _bit(v)
        else:
            for beta in self._betas(node, inherited):
                acc = 1
                for child in node.children:
                    s = self.values(child, beta)
                    if not s:
                        acc = 0
                        break
                    acc = _add(acc, s)
                out |= acc
        self.memo[key] = out
        return out

    def leak(self) -> int | None:
        """A count from 1 to 10 a reader can work out, or None."""
        found = self.values(self.root, (0, 0, 0)) & _SMALL_BITS
        return (found & -found).bit_length() - 1 if found else None

    def explain(self, node: Node, inherited, target: int) -> list[tuple[Node, tuple[int, int, int]]]:
        """The beta of each node in one combination that works out `target` (1..10)."""
        if not node.children:
            for beta, v in self._leaf_choices(node, inherited):
                if v == target:
                    return [(node, beta)]
            raise AssertionError("no leaf choice for target")
        for beta in self._betas(node, inherited):
            sets = [self.values(ch, beta) for ch in node.children]
            if not all(sets):
                continue
            prefix = [1]
            for s in sets:
                prefix.append(_add(prefix[-1], s))
            if not prefix[-1] >> target & 1:
                continue
            out, t = [(node, beta)], target
            for i in reversed(range(len(sets))):
                v = next(v for v in range(t + 1) if sets[i] >> v & 1 and prefix[i] >> (t - v) & 1)
                out += self.explain(node.children[i], beta, v)
                t -= v
            return out
        raise AssertionError("no choice for target")


def suppress(root: Node, root_shown: Sequence[bool] | None = None) -> Node:
    """Decide `shown` for every cell of the tree, in place: primary, then complementary suppression.

    `root_shown` fixes the citywide cells (the same in every table); a hidden citywide cell hides its
    whole column, so no table can give it back.
    """
    root.shown = list(root_shown) if root_shown is not None else primary_shown(root.counts)
    if not root.shown[N]:
        for node in root.walk():
            node.shown = [False, False, False]
        return root
    for node in root.walk():
        if node is not root:
            node.shown = primary_shown(node.counts, [root.shown[k] and k not in node.forced for k in range(3)])
    parents = {id(ch): p for p in root.walk() for ch in p.children}
    while True:
        audit = _Audit(root)
        target = audit.leak()
        if target is None:
            return root
        chosen = dict((id(n), beta) for n, beta in audit.explain(root, (0, 0, 0), target))
        candidates = []
        for node in root.walk():
            if node is root or id(node) not in chosen:
                continue
            beta, up = chosen[id(node)], chosen[id(parents[id(node)])]
            for k in range(3):
                if node.shown[k] and beta[k] != up[k]:
                    v = node.counts[k]
                    candidates.append((v == 0, v, -k, node.key, node, k))
        if not candidates:  # cannot happen with a consistent tree; hide all rather than leak
            for node in root.walk():
                if node is not root:
                    node.shown = [False, False, False]
            continue
        *_, node, k = min(candidates, key=lambda c: c[:4])
        node.shown[k] = False


# --- the report --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One group as shown: None means suppressed. Rates are fractions (0.25 = 25%)."""

    key: str
    label: str
    parent: str | None
    referrals: int | None
    contacted: int | None
    enrolled: int | None
    contact_rate: float | None
    enroll_rate: float | None
    contact_ratio: float | None
    enroll_ratio: float | None
    small_base: bool

    @property
    def counts(self) -> tuple[int | None, int | None, int | None]:
        return self.referrals, self.contacted, self.enrolled


@dataclass(frozen=True)
class Table:
    dimension: str
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Report:
    """The suppressed figures of one release. `pending`: outcomes are still being recorded, so the contact
    and enrollment columns are not published yet (they come in the next revision)."""

    period: "ReleasePeriod"
    generated_at: date
    total: Row
    tables: tuple[Table, ...]
    revision: int = 1
    pending: bool = False
    outcomes_final_on: date | None = None
    # Unmet need: its citywide row and its tables (Row.referrals/contacted/enrolled hold the UNMET_DIMENSIONS
    # measures; read them through unmet_figures).
    unmet_total: Row | None = None
    unmet: tuple[Table, ...] = ()

    def table(self, dimension: str) -> Table:
        for t in self.tables + self.unmet:
            if t.dimension == dimension:
                return t
        raise KeyError(dimension)

    @property
    def suppressed_all(self) -> bool:
        return self.total.referrals is None


def _rate(num: int | None, den: int | None) -> float | None:
    return None if num is None or den is None or den == 0 else num / den


def _ratio(rate: float | None, city: float | None) -> float | None:
    return None if rate is None or not city else rate / city


def _make_row(node: Node, label: str, parent: str | None, city: Row | None) -> Row:
    shown = [v if node.shown[k] else None for k, v in enumerate(node.counts)]
    n, c, e = shown
    cr, er = _rate(c, n), _rate(e, n)
    return Row(key=node.key, label=label, parent=parent, referrals=n, contacted=c, enrolled=e,
               contact_rate=cr, enroll_rate=er,
               contact_ratio=_ratio(cr, city.contact_rate) if city else None,
               enroll_ratio=_ratio(er, city.enroll_rate) if city else None,
               small_base=n is not None and 0 < n < UNSTABLE_BELOW)


def label_for(dimension: str, key: str, programs: dict[str, str] | None = None) -> str:
    if dimension == "program":
        return (programs or {}).get(key) or f"Program {key[:8]} (no longer in the directory)"
    labels = _LABELS.get(dimension, {})
    return labels.get(key) or COMMON_LABELS.get(key) or key


def _sort_key(dimension: str, key: str, programs: dict[str, str] | None = None) -> tuple:
    """Known codes in their list's order, others by label, the unknowns last."""
    order = list(_LABELS.get(dimension, {}))
    tail = {"prefer_not_to_say": 1, "not_asked": 2, "": 3}.get(key, 0)
    pos = order.index(key) if key in order else len(order)
    return tail, pos, label_for(dimension, key, programs).casefold(), key


# A cell of a release: (dimension, parent key or None, group key); the citywide cell is ("total", None, "all").
CellId = tuple[str, "str | None", str]
# Tables whose "not asked" rows are the same referrals (no consent to analytics means neither question).
LINKED_NOT_ASKED = ("race_ethnicity", "gender")


def _tree(dim: str, by_dim: dict[str, list[GroupCount]], root_counts, period, programs) -> Node:
    root = Node("all", root_counts)
    groups = sorted(by_dim.get(dim, []), key=lambda g: _sort_key(dim, g.key, programs))
    if dim == "month":
        have = {g.key: g for g in groups}
        groups = [have.get(m, GroupCount("month", m, None, 0, 0, 0)) for m in period.months()]
    if dim == "program":
        needs = {g.key: g for g in by_dim.get("need", [])}
        for need_key in sorted(needs, key=lambda k: _sort_key("need", k)):
            ng = needs[need_key]
            node = Node(need_key, (ng.referrals, ng.contacted, ng.enrolled))
            node.children = [Node(g.key, (g.referrals, g.contacted, g.enrolled))
                             for g in groups if g.parent == need_key]
            root.children.append(node)
    else:
        root.children = [Node(g.key, (g.referrals, g.contacted, g.enrolled)) for g in groups]
    return root


def _cells_of(dim: str, root: Node) -> Iterator[tuple[CellId, Node]]:
    for node in root.children:
        if dim == "program":
            yield ("need", None, node.key), node
            for child in node.children:
                yield ("program", node.key, child.key), child
        else:
            yield (dim, None, node.key), node


def table_dimensions(period) -> list[str]:
    """The tables of a release: a month release has no month table (it would be its citywide row)."""
    return [d for d in DIMENSIONS if not (d == "month" and period.kind == "month")]


def suppress_release(counts: Iterable[GroupCount], period, forced: dict[CellId, set[int]] | None = None,
                     pending: bool = False, link_not_asked: bool = True
                     ) -> dict[CellId, tuple[tuple[int, int, int], list[bool]]]:
    """Every cell of a release: its true counts and which of N, C, E are shown.

    Each table is suppressed on its own (exact audit), with `forced` cells hidden first (what other
    periods and revisions require, worked out by releases.py), the citywide cells shared, and the linked
    "not asked" rows of race and gender hidden together. `pending` hides contact and enrollment everywhere.
    `link_not_asked=False` gives what the tables did before releases (each table alone): only for comparison.
    """
    forced = {k: set(v) for k, v in (forced or {}).items()}
    by_dim: dict[str, list[GroupCount]] = {}
    for g in counts:
        by_dim.setdefault(g.dimension, []).append(g)
    total = next((g for g in by_dim.get("total", [])), None)
    root_counts = (total.referrals, total.contacted, total.enrolled) if total else (0, 0, 0)
    root_shown = primary_shown(root_counts, [k not in forced.get(("total", None, "all"), set()) and
                                            not (pending and k) for k in range(3)])
    if not root_shown[N]:
        root_shown = [False, False, False]
    out: dict[CellId, tuple[tuple[int, int, int], list[bool]]] = {("total", None, "all"): (root_counts, root_shown)}
    dims = [d for d in table_dimensions(period) if d != "need"]
    for _round in range(4):
        trees = {}
        for dim in dims:
            root = _tree(dim, by_dim, root_counts, period, None)
            for cell, node in _cells_of(dim, root):
                node.forced = forced.get(cell, set())
            suppress(root, root_shown)
            trees[dim] = root
        hidden_na = {k for dim in LINKED_NOT_ASKED for cell, node in _cells_of(dim, trees[dim])
                     if cell[2] == "not_asked" for k in range(3) if not node.shown[k]}
        added = False
        for dim in LINKED_NOT_ASKED if link_not_asked else ():
            cell = (dim, None, "not_asked")
            if any(c == cell for c, _ in _cells_of(dim, trees[dim])) and not hidden_na <= forced.get(cell, set()):
                forced.setdefault(cell, set()).update(hidden_na)
                added = True
        if not added:
            break
    for dim, root in trees.items():
        for cell, node in _cells_of(dim, root):
            out[cell] = (node.counts, list(node.shown))
    out.update(_suppress_unmet(by_dim, period, forced, pending))
    return out


def _suppress_unmet(by_dim: dict[str, list[GroupCount]], period, forced: dict[CellId, set[int]],
                    pending: bool) -> dict[CellId, tuple[tuple[int, int, int], list[bool]]]:
    """The unmet-need tables: the same rules as the referral tables, over their own citywide cell.
    While outcomes are pending, only the unmet totals are shown, as only referrals are for the others
    (one state per month until the final revision: what the attacker's model knows)."""
    total = next((g for g in by_dim.get(UNMET_TOTAL, [])), None)
    root_counts = (total.referrals, total.contacted, total.enrolled) if total else (0, 0, 0)
    root_cell = (UNMET_TOTAL, None, "all")
    root_shown = primary_shown(root_counts, [k not in forced.get(root_cell, set()) and not (pending and k)
                                             for k in range(3)])
    if not root_shown[N]:
        root_shown = [False, False, False]
    out: dict[CellId, tuple[tuple[int, int, int], list[bool]]] = {root_cell: (root_counts, root_shown)}
    for dim in UNMET_DIMENSIONS:
        root = _tree(dim, by_dim, root_counts, period, None)
        for cell, node in _cells_of(dim, root):
            node.forced = forced.get(cell, set())
        suppress(root, root_shown)
        for cell, node in _cells_of(dim, root):
            out[cell] = (node.counts, list(node.shown))
    return out


def assemble_report(cells: dict[CellId, tuple[tuple[int, int, int], list[bool]]], period,
                    programs: dict[str, str] | None = None, generated_at: date | None = None, revision: int = 1,
                    pending: bool = False, outcomes_final_on: date | None = None) -> Report:
    """The report as shown, from suppressed cells."""
    counts, shown = cells[("total", None, "all")]
    city = _make_row(Node("all", counts, shown=shown), "Citywide", None, None)
    city = Row(**{**city.__dict__, "contact_ratio": None, "enroll_ratio": None})
    rows: dict[str, list[Row]] = {}
    for (dim, parent, key), (c, sh) in cells.items():
        if dim in ROOTS:
            continue
        label = label_for(dim, key, programs)
        rows.setdefault(dim, []).append(_make_row(Node(key, c, shown=sh), label, parent, city))
    tables = []
    for dim in table_dimensions(period):
        if dim == "program":
            need_order = {n.key: i for i, n in enumerate(rows.get("need", []))}
            got = sorted(rows.get(dim, []), key=lambda r: (need_order.get(r.parent, 99),
                                                          _sort_key(dim, r.key, programs)))
        else:
            got = rows.get(dim, [])
        tables.append(Table(dim, DIMENSIONS[dim], tuple(got)))
    unmet_total, unmet = None, ()
    if (UNMET_TOTAL, None, "all") in cells:
        counts, shown = cells[(UNMET_TOTAL, None, "all")]
        unmet_total = _make_row(Node("all", counts, shown=shown), "Citywide", None, None)
        unmet = tuple(Table(dim, title, tuple(rows.get(dim, []))) for dim, title in UNMET_DIMENSIONS.items())
    return Report(period=period, generated_at=generated_at or datetime.now(timezone.utc).date(), total=city,
                  tables=tuple(tables), revision=revision, pending=pending, outcomes_final_on=outcomes_final_on,
                  unmet_total=unmet_total, unmet=unmet)


def build_report(counts: Iterable[GroupCount], period, programs: dict[str, str] | None = None,
                 forced: dict[CellId, set[int]] | None = None, **meta) -> Report:
    """Suppress (one release on its own) and assemble. Releases go through releases.py, which adds what
    other periods and revisions require."""
    return assemble_report(suppress_release(counts, period, forced, meta.get("pending", False)), period,
                           programs, **meta)


def program_names(session: Session) -> dict[str, str]:
    return {pid: name for pid, name in session.execute(select(ProgramRow.id, ProgramRow.name))}


# --- text and CSV ----------------------------------------------------------------------------------------

def fmt_count(v: int | None) -> str:
    return SUPPRESSED if v is None else str(v)


def fmt_rate(rate: float | None, row: Row, percent_sign: bool = True) -> str:
    """A rate as a percentage with one decimal, flagged on a small base; empty for a group of 0."""
    if rate is None:
        return "" if row.referrals == 0 else SUPPRESSED
    return f"{rate * 100:.1f}" + ("%" if percent_sign else "") + (FLAG if row.small_base and percent_sign else "")


def fmt_ratio(ratio: float | None, rate: float | None, row: Row) -> str:
    """The ratio to the city; `*` when the group's rate is suppressed, empty when there is nothing to
    compare (no referrals, or a citywide rate of 0 or suppressed)."""
    if ratio is None:
        return SUPPRESSED if rate is None and row.referrals != 0 else ""
    return f"{ratio:.2f}"


PENDING = "pending"  # contact and enrollment of a release whose outcomes are still being recorded


def release_name(report: Report) -> str:
    kind = {"month": "month", "quarter": "fiscal quarter", "year": "fiscal year"}[report.period.kind]
    return f"{report.period.label} ({kind}, {report.period}), revision {report.revision}"


def status_line(report: Report) -> str:
    if report.pending:
        return (f"Outcomes still being recorded: contact and enrollment are published from "
                f"{report.outcomes_final_on.isoformat() if report.outcomes_final_on else 'later'}, in the next "
                "revision. Until then only referrals are shown.")
    return f"Final: outcomes recorded within {OUTCOME_DAYS} days of each referral are all in."


def footnotes(report: Report) -> list[str]:
    return [
        f"Release {release_name(report)}; published {report.generated_at.isoformat()}. {status_line(report)}",
        f"{SUPPRESSED} = suppressed: a count from 1 to {SMALL_MAX}, or a figure from which one could be worked "
        "out by adding or subtracting other figures (complementary suppression). Rates and ratios are "
        "suppressed when one of their counts is.",
        f"{FLAG} = rate on fewer than {UNSTABLE_BELOW} referrals: unstable, read with care.",
        "Contacted: a caseworker recorded contact or an outcome after contact (enrolled, not eligible, "
        "declined). Ratio: the group's rate divided by the citywide rate (1.00 = same as citywide).",
        f"Referrals created in the period (UTC); contact and enrollment recorded within {OUTCOME_DAYS} days of "
        "each referral. Releases cover whole months, fiscal quarters and fiscal years only, and are suppressed "
        "together, so no figure of one can be combined with another to narrow a suppressed cell.",
    ]


UNMET_HEADERS = ("Group", "Unmet", "No program fit", "All full", "Declined")
UNMET_NOTE = ("Unmet need: requests that ended without a referral. No program fit: no program serves that "
              "need for the resident's answers. All full: programs would fit but every one was full or not "
              "taking referrals. Declined: the resident said no thanks, or gave no way to be reached.")


def unmet_note(report: "Report") -> str:
    if report.pending:
        return UNMET_NOTE + " Until the final revision only the unmet totals are shown, like the referrals."
    return UNMET_NOTE


def unmet_figures(row: Row) -> tuple[int | None, int | None, int | None, int | None]:
    """(unmet, no program fit, all full, declined) as published: each only when the counts it comes from
    are shown (see UNMET_DIMENSIONS), so nothing is shown that the suppression did not allow."""
    n, c, e = row.counts
    return n, e, None if c is None or e is None else c - e, None if n is None or c is None else n - c


def _unmet_cells(row: Row, pending: bool) -> list[str]:
    total, no_fit, full, declined = unmet_figures(row)
    if pending:
        return [fmt_count(total), PENDING, PENDING, PENDING]
    return [fmt_count(v) for v in (total, no_fit, full, declined)]


_HEADERS = ("Group", "Referrals", "Contacted", "Contact rate", "Ratio", "Enrolled", "Enroll rate", "Ratio")


def _text_row(label: str, row: Row, citywide: bool = False, pending: bool = False) -> list[str]:
    if pending:
        return [label, fmt_count(row.referrals)] + [PENDING, "", "", PENDING, "", ""]
    return [label, fmt_count(row.referrals), fmt_count(row.contacted), fmt_rate(row.contact_rate, row),
            "" if citywide else fmt_ratio(row.contact_ratio, row.contact_rate, row), fmt_count(row.enrolled),
            fmt_rate(row.enroll_rate, row), "" if citywide else fmt_ratio(row.enroll_ratio, row.enroll_rate, row)]


def _text_table(title: str, rows: list[list[str]], headers: Sequence[str] = _HEADERS,
                empty: str = "(no referrals)") -> list[str]:
    widths = [min(60, max([len(h)] + [len(r[i]) for r in rows])) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c[:widths[0]].ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                         for i, c in enumerate(cells)).rstrip()

    return [title, line(headers)] + [line(r) for r in rows] + ([] if rows else [empty]) + [""]


def render_text(report: Report) -> str:
    """The report as plain text, for a terminal or a scheduled job's mail."""
    out = ["Equity report: referrals, contact and enrollment", f"Release: {release_name(report)}",
           f"Published: {report.generated_at.isoformat()}", status_line(report), ""]
    if report.suppressed_all:
        out += [f"Fewer than {SMALL_MAX + 1} referrals in this period: every figure is suppressed.", ""]
    out += _text_table("Citywide", [_text_row("Citywide", report.total, citywide=True, pending=report.pending)])
    for table in report.tables:
        out += _text_table(table.title, [
            _text_row(f"{label_for('need', r.parent)} / {r.label}" if r.parent else r.label, r,
                      pending=report.pending) for r in table.rows])
    if report.unmet_total is not None:
        out += _text_table("Unmet need, citywide", [["Citywide"] + _unmet_cells(report.unmet_total, report.pending)],
                           UNMET_HEADERS)
        for table in report.unmet:
            out += _text_table(table.title, [[r.label] + _unmet_cells(r, report.pending) for r in table.rows],
                               UNMET_HEADERS, "(no unmet need recorded)")
        out.append(unmet_note(report))
    out += footnotes(report)
    return "\n".join(out) + "\n"


_CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection): leading ' when needed."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_CSV_DANGEROUS) else text


CSV_COLUMNS = ("dimension", "group", "parent_group", "referrals", "contacted", "contact_rate_pct",
               "contact_ratio", "enrolled", "enroll_rate_pct", "enroll_ratio", "fewer_than_20")


UNMET_CSV_COLUMNS = ("dimension", "group", "unmet", "no_program_fit", "all_full", "declined")


def _csv_row(dimension: str, row: Row, pending: bool = False) -> list[str]:
    citywide = dimension == "citywide"
    if pending:
        return [dimension, row.label, label_for("need", row.parent) if row.parent else "", fmt_count(row.referrals),
                PENDING, "", "", PENDING, "", "", "yes" if row.small_base else ""]
    return [dimension, row.label, label_for("need", row.parent) if row.parent else "", fmt_count(row.referrals),
            fmt_count(row.contacted), fmt_rate(row.contact_rate, row, percent_sign=False),
            "" if citywide else fmt_ratio(row.contact_ratio, row.contact_rate, row), fmt_count(row.enrolled),
            fmt_rate(row.enroll_rate, row, percent_sign=False),
            "" if citywide else fmt_ratio(row.enroll_ratio, row.enroll_rate, row), "yes" if row.small_base else ""]


def render_csv(report: Report) -> str:
    """The report as CSV: UTF-8, CRLF line ends, formula-looking cells neutralised, footer lines last."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerow([csv_safe(c) for c in _csv_row("citywide", report.total, report.pending)])
    for table in report.tables:
        for row in table.rows:
            writer.writerow([csv_safe(c) for c in _csv_row(table.dimension, row, report.pending)])
    if report.unmet_total is not None:
        # Its own block, with its own header: the columns count other things than the referral tables'.
        writer.writerow([])
        writer.writerow(UNMET_CSV_COLUMNS)
        for dimension, row in [(UNMET_TOTAL, report.unmet_total)] + [(t.dimension, r) for t in report.unmet
                                                                     for r in t.rows]:
            writer.writerow([csv_safe(c) for c in [dimension, row.label] + _unmet_cells(row, report.pending)])
        writer.writerow([csv_safe(unmet_note(report))])
    writer.writerow([])
    for line in footnotes(report):
        writer.writerow([csv_safe(line)])
    return buf.getvalue()


def csv_bytes(report: Report) -> bytes:
    return render_csv(report).encode("utf-8")
