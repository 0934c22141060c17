"""Releases: the only way equity figures leave the database.

A release is the report of one whole, ended period of the calendar (calendar.py), computed once by
`python -m referrals report publish` (a daily job), stored, and served as stored to every role: the same
bytes on every download. Nothing is computed per request, so there is nothing to difference and nothing
to poll.

Revisions. A period is published as soon as it ends. Until OUTCOME_DAYS after it ends, outcomes are still
being recorded: revision 1 then shows referrals only and says so. The next run after that date publishes
the final revision with contact and enrollment. A later run that finds different counts for an ended
period (a late correction) publishes a new revision; its differences to the one before are figures a
reader can compute, so they are suppressed like any other (revision rule below, and the attacker audits
them).

One suppression for everything. A new release is suppressed against every release of its fiscal year
already published (months, quarters, the year, every revision): each table is first suppressed on its own
(assemble.suppress_release, exact), then the LP attacker (attack.py) is run over all of them; while a small
figure (of the new release, or of an earlier one that the new one would narrow) can be pinned to an
interval narrower than the protection interval, the new release hides more: the same cell as the earlier
release, or a complementary cell in its own table. Published releases never change, so all the hiding is
done in the new one; in the worst case it hides every group (its citywide figures add nothing, as they are
the sum of its months').
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from referrals.models import ReferralLogEntry, ReportRelease, UnmetNeedEntry
from referrals.reports.attack import Audit, Published, audit
from referrals.reports.calendar import ReleasePeriod, ended_periods, fiscal_year, parse_period
from referrals.reports.assemble import assemble_report, suppress_release
from referrals.reports.counting import count_months, period_counts, program_names
from referrals.reports.dimensions import OUTCOME_DAYS, ROOTS, CellId, Cells, root_of
from referrals.reports.render import render_csv, render_text
from referrals.reports.suppression import SMALL_MAX

DEFAULT_PROTECTION = 5.0
MAX_ROUNDS = 12


# --- (de)serialising the truth behind a release -----------------------------------------------------

def _cells_json(cells: dict[CellId, tuple[tuple[int, int, int], list[bool]]]) -> list:
    return [[d, p, k, list(c), [bool(x) for x in sh]] for (d, p, k), (c, sh) in cells.items()]


def _cells_from(data: list) -> dict[CellId, tuple[tuple[int, int, int], list[bool]]]:
    return {(d, p, k): (tuple(c), list(sh)) for d, p, k, c, sh in data}


def _months_json(months: dict[str, Cells]) -> dict:
    return {m: [[d, k, p, list(v)] for (d, k, p), v in cells.items()] for m, cells in months.items()}


def _months_from(data: dict) -> dict[str, Cells]:
    return {m: {(d, k, p): list(v) for d, k, p, v in rows} for m, rows in data.items()}


def as_published(row: ReportRelease, start_month: int) -> Published:
    period = parse_period(row.period, start_month)
    return Published(key=f"{row.period} r{row.revision}", period=row.period, revision=row.revision,
                     months=tuple(period.months()), pending=row.pending, cells=_cells_from(row.cells),
                     month_cells=_months_from(row.month_cells))


# --- joint suppression ------------------------------------------------------------------------------

@dataclass
class Suppressed:
    cells: dict[CellId, tuple[tuple[int, int, int], list[bool]]]
    audit: Audit
    rounds: int


def _family_dim(cell: CellId) -> str:
    """The table a cell's figures are audited with (tables audited together share one name)."""
    from referrals.reports.attack import FAMILIES, FAMILY_OF
    dim = cell[0]
    return dim if dim in ROOTS else FAMILIES[FAMILY_OF[dim]][0]


def _same_table(cell: CellId, other: CellId) -> bool:
    return cell[0] == other[0] and cell[1] == other[1] and cell != other


def suppress_jointly(history: list[Published], period: ReleasePeriod, revision: int,
                     month_cells: dict[str, Cells], pending: bool, protection: float = DEFAULT_PROTECTION
                     ) -> Suppressed:
    """The cells of a new release, suppressed so that the attacker, given `history` and this release,
    cannot pin any small figure of any of them to an interval narrower than `protection`."""
    months = period.months()
    counts = period_counts(month_cells, months)
    key = f"{period.label} r{revision}"
    # Only releases that share months with this one, directly or through others, share unknowns with it:
    # the attacker's programs are built over that part of the history alone (much smaller for a month).
    linked, grown = set(months), True
    while grown:
        grown = False
        for h in history:
            if set(h.months) & linked and not set(h.months) <= linked:
                linked |= set(h.months)
                grown = True
    history = [h for h in history if set(h.months) & linked]
    forced: dict[CellId, set[int]] = {}
    earlier = [h for h in history if h.period == period.label]
    if earlier:
        # revision rule: a shown count that moved by 1 to 10 since the last revision would publish the
        # size of the correction (referrals always; contact and enrollment when both are final)
        prev = max(earlier, key=lambda h: h.revision)
        now_cells = suppress_release(counts, period, None, pending)
        for cell, (old, shown) in prev.cells.items():
            if cell in now_cells:
                new = now_cells[cell][0]
                for k in range(3):
                    if k and (pending or prev.pending):
                        continue
                    if shown[k] and 1 <= abs(new[k] - old[k]) <= SMALL_MAX:
                        forced.setdefault(cell, set()).add(k)
    targets = {key} | {h.key for h in history if set(h.months) & set(months)}
    result = None
    previous: dict[CellId, tuple] | None = None
    kept: dict[str, list] = {}
    for rounds in range(1, MAX_ROUNDS + 1):
        cells = suppress_release(counts, period, forced, pending)
        new = Published(key, period.label, revision, tuple(months), pending, cells,
                        {m: month_cells.get(m, {}) for m in months})
        # after the first round, only the tables whose cells changed need the attacker again
        changed = None if previous is None else {_family_dim(c) for c in cells if cells[c] != previous.get(c)}
        result = audit(history + [new], targets, changed, protection)
        fresh: dict[str, list] = {}
        for f in result.findings:
            fresh.setdefault(_family_dim(f.cell), []).append(f)
        if changed is None or result.joint:
            kept = fresh
        else:
            for fam in changed:
                kept[fam] = fresh.get(fam, [])
        result.findings = [f for fs in kept.values() for f in fs]
        previous = dict(cells)
        failures = result.failures(protection)
        if not failures:
            return Suppressed(cells, result, rounds)
        grew = False

        def hide(cell: CellId, measures: set[int]) -> None:
            nonlocal grew
            if cell in cells and not measures <= forced.get(cell, set()):
                forced.setdefault(cell, set()).update(measures)
                grew = True

        overlapping = [h for h in history if set(h.months) & set(months)]

        def uncertain(cell: CellId, ms: set[int]) -> bool:
            """Hidden somewhere in an overlapping release: a complement that carries real doubt."""
            return any(cell in h.cells and not all(h.cells[cell][1][k] for k in ms) for h in overlapping)

        for f in failures:
            ms = f.measures()
            target = f.cell
            if f.release != key and f.cell[0] == "total":
                src = next(h for h in history if h.key == f.release)
                if len(src.months) == 1 and ("month", None, src.months[0]) in cells:
                    target = ("month", None, src.months[0])
            if target not in cells:
                continue
            if any(cells[target][1][k] for k in ms):
                hide(target, ms)  # an earlier release's hidden figure: hide it here too
                continue
            siblings = [c for c in cells if _same_table(c, target) and any(cells[c][1][k] for k in ms)]
            if not siblings and target[0] == "program":
                siblings = [("need", None, target[1])] if any(cells[("need", None, target[1])][1][k] for k in ms) else []
            siblings.sort(key=lambda c: (not uncertain(c, ms), min(cells[c][0][k] for k in ms) == 0,
                                         min(cells[c][0][k] for k in ms), c))
            if siblings:
                hide(siblings[0], ms)
        if not grew or rounds >= MAX_ROUNDS - 1:
            # give up on finesse: hide every group of the tables involved (their citywide cells stay)
            dims = {f.cell[0] for f in failures}
            if "need" in dims or "program" in dims:
                dims |= {"need", "program"}
            if dims & {"race_ethnicity", "gender"}:
                dims |= {"race_ethnicity", "gender"}
            before = {c: set(v) for c, v in forced.items()}
            for cell in cells:
                if cell[0] in dims or root_of(cell[0]) in dims or "month" in dims and cell[0] == "month":
                    forced.setdefault(cell, set()).update({0, 1, 2})
            if forced == before:  # nothing left but the citywide cells: hide those too
                roots = {root_of(d) for d in dims}
                for root in roots:
                    forced[(root, None, "all")] = {0, 1, 2}
                if all(before.get((root, None, "all")) == {0, 1, 2} for root in roots):
                    break
    cells = suppress_release(counts, period, {c: {0, 1, 2} for c in suppress_release(counts, period)}, pending)
    for cell in cells:
        cells[cell] = (cells[cell][0], [False, False, False])
    new = Published(key, period.label, revision, tuple(months), pending, cells,
                    {m: month_cells.get(m, {}) for m in months})
    return Suppressed(cells, audit(history + [new], targets, None, protection), MAX_ROUNDS)


# --- publication ------------------------------------------------------------------------------------

def _n_only(cells: Cells) -> dict:
    return {k: v[0] for k, v in cells.items() if v[0]}


def _changed(prev: ReportRelease, month_cells: dict[str, Cells], pending: bool) -> bool:
    old = _months_from(prev.month_cells)
    if pending or prev.pending:
        return any(_n_only(old.get(m, {})) != _n_only(month_cells.get(m, {})) for m in month_cells)
    return any({k: list(v) for k, v in old.get(m, {}).items()} != {k: list(v) for k, v in month_cells[m].items()}
               for m in month_cells)


def first_referral_day(session: Session) -> date | None:
    """The first day with something to report: a referral, or a request that ended without one."""
    days = []
    for first in (session.scalar(select(func.min(ReferralLogEntry.occurred_at))
                                 .where(ReferralLogEntry.event == "created")),
                  session.scalar(select(func.min(UnmetNeedEntry.occurred_at)))):
        if first is not None:
            days.append((datetime.fromisoformat(first) if isinstance(first, str) else first).date())
    return min(days, default=None)


def publish(session: Session, today: date | None = None, start_month: int = 1,
            protection: float = DEFAULT_PROTECTION, log=lambda message: None) -> list[ReportRelease]:
    """Publish every release that is due on `today` (UTC): new ended periods, final revisions of periods
    whose outcomes are now in, and corrections. Returns the new rows (the caller commits)."""
    from referrals.reports.html import report_page_html

    today = today or datetime.now(timezone.utc).date()
    first = first_referral_day(session)
    if first is None:
        return []
    programs = program_names(session)
    due = ended_periods(first, today, start_month)
    out: list[ReportRelease] = []
    for fy in sorted({p.fiscal_year for p in due}):
        periods = [p for p in due if p.fiscal_year == fy]
        year = fiscal_year(fy, start_month)
        last_end = max(p.end for p in periods)
        raw = count_months(session, year.start, last_end)
        rows = list(session.scalars(select(ReportRelease).where(ReportRelease.fiscal_year == fy,
                                                                ReportRelease.kind != "open")
                                    .order_by(ReportRelease.id)))
        opened = set(session.scalars(select(ReportRelease.period).where(ReportRelease.fiscal_year == fy,
                                                                        ReportRelease.kind == "open")))
        history = [as_published(r, start_month) for r in rows]
        latest = {}
        for r in rows:
            latest[r.period] = r
        for p in periods:
            final_on = p.end + timedelta(days=OUTCOME_DAYS + 1)
            pending = today < final_on
            month_cells = {m: raw.get(m, {("total", "all", None): [0, 0, 0]}) for m in p.months()}
            prev = latest.get(p.label)
            if prev is not None:
                if prev.pending and not pending:
                    pass  # the final revision is due
                elif not _changed(prev, month_cells, pending):
                    continue
            revision = prev.revision + 1 if prev else 1
            result = suppress_jointly(history, p, revision, month_cells, pending, protection)
            report = assemble_report(result.cells, p, programs, generated_at=today, revision=revision,
                                     pending=pending, outcomes_final_on=final_on if pending else None)
            row = ReportRelease(
                period=p.label, kind=p.kind, fiscal_year=fy, revision=revision, pending=pending,
                published_on=today, outcomes_final_on=final_on if pending else None,
                protection=result.audit.protection(), cells=_cells_json(result.cells),
                month_cells=_months_json(month_cells), csv=render_csv(report), text=render_text(report),
                html=report_page_html(report))
            session.add(row)
            session.flush()
            history.append(as_published(row, start_month))
            latest[p.label] = row
            out.append(row)
            log(f"published {p.label} revision {revision}{' (outcomes pending)' if pending else ''}: "
                f"{result.rounds} round(s), {result.audit.programs_solved} figures audited")
            if p.kind != "month" and not pending and f"{p.label}-open" not in opened:
                out.append(_open_release(session, p, month_cells, today))
                opened.add(f"{p.label}-open")
                log(f"published the open-data release of {p.label}")
    return out


def _open_release(session: Session, p: ReleasePeriod, month_cells: dict[str, Cells], today: date) -> ReportRelease:
    from html import escape

    from referrals.reports.opendata import make_open_release

    made = make_open_release(period_counts(month_cells, p.months()), p.label, p.kind)
    meta = made.metadata
    html = (f'<section class="equity-report"><h2>Open data: {escape(p.label)}</h2><p>Counts with calibrated '
            f'noise (differential privacy, OpenDP): budget ε = {meta["epsilon"]:g} for this release, noise scale '
            f'{meta["noise_scale"]:g}; each count is within ±{meta["expected_error_95pct"]:g} of the true count '
            '19 times out of 20. For publication on an open-data portal.</p></section>')
    row = ReportRelease(period=f"{p.label}-open", kind="open", fiscal_year=p.fiscal_year, revision=1, pending=False,
                        published_on=today, cells=[], month_cells={}, csv=made.csv,
                        text=json.dumps(meta, indent=2, sort_keys=True) + "\n", html=html)
    session.add(row)
    session.flush()
    return row


# --- reading ----------------------------------------------------------------------------------------

def list_releases(session: Session) -> list[ReportRelease]:
    """Every period's newest revision, newest period first."""
    rows = list(session.scalars(select(ReportRelease).order_by(ReportRelease.id)))
    latest: dict[str, ReportRelease] = {}
    for r in rows:
        latest[r.period] = r
    return sorted(latest.values(), key=lambda r: (r.fiscal_year, r.period.removesuffix("-open"), r.kind),
                  reverse=True)


def revisions(session: Session, period: str) -> list[ReportRelease]:
    return list(session.scalars(select(ReportRelease).where(ReportRelease.period == period)
                                .order_by(ReportRelease.revision)))


def get_release(session: Session, period: str, revision: int | None = None) -> ReportRelease | None:
    revs = revisions(session, period)
    if revision is None:
        return revs[-1] if revs else None
    return next((r for r in revs if r.revision == revision), None)


def audit_all(session: Session, start_month: int = 1) -> dict[int, Audit]:
    """The attacker over every published release, one fiscal year at a time."""
    rows = list(session.scalars(select(ReportRelease).where(ReportRelease.kind != "open").order_by(ReportRelease.id)))
    out = {}
    for fy in sorted({r.fiscal_year for r in rows}):
        out[fy] = audit([as_published(r, start_month) for r in rows if r.fiscal_year == fy])
    return out


def hidden_cells(cells: Iterable) -> int:
    """How many figures (counts of a group) a release hides, out of the groups with referrals."""
    return sum(1 for _c, (counts, shown) in cells for k in range(3) if counts[0] and not shown[k])
