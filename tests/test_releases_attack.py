"""The linear-programming attacker against releases, on tables built to break per-table suppression.

Each test first shows the leak the issue saw on main (tables suppressed one by one, each period on its
own), measured by the attacker: a small figure pinned to an interval narrower than the protection
interval. Then it runs the release suppression (releases.suppress_jointly) on the same figures and
checks that the attacker can no longer narrow any small figure, and that every table also passes the
independent brute-force checker of test_reports_suppression.py (the second check).

The data is plain Python: people with a month, an outcome and their groups, counted here.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from referrals.reports.attack import Published, audit
from referrals.reports.calendar import month, quarter
from referrals.reports.assemble import _cells_of, _tree, suppress_release
from referrals.reports.counting import period_counts
from referrals.reports.dimensions import UNMET_DIMENSIONS, UNMET_TOTAL
from referrals.reports.releases import suppress_jointly
from tests.test_reports_suppression import T, leaks

GROUPS = ("need", "program", "neighborhood", "language", "channel", "age_band", "race_ethnicity", "gender")
P = 5.0


def person(m: str, level: int, **groups) -> dict:
    base = dict(need="employment", program="p1", neighborhood="Eastside", language="en", channel="sms",
                age_band="25_54", race_ethnicity="white", gender="woman")
    return {"month": m, "level": level, **base, **groups}


def crowd(m: str, n: int, rng: random.Random, **groups) -> list[dict]:
    """n people of month m with mixed outcomes and the given groups."""
    return [person(m, rng.choice((0, 0, 1, 2)), **groups) for _ in range(n)]


UNMET_LEVEL = {"declined": 0, "all_full": 1, "no_program": 2}  # the nested measures of core.UNMET_DIMENSIONS


def unmet(m: str, reason: str, n: int = 1, need: str = "savings", neighborhood: str = "Eastside",
          language: str = "en") -> list[dict]:
    """n requests of month m that ended without a referral."""
    return [{"month": m, "unmet": reason, "need": need, "neighborhood": neighborhood, "language": language}] * n


def month_cells(people: list[dict]) -> dict[str, dict]:
    """Raw cells per month, as core.count_months returns them, counted independently here."""
    out: dict[str, dict] = defaultdict(lambda: {("total", "all", None): [0, 0, 0]})
    for p in people:
        if "unmet" in p:
            level = UNMET_LEVEL[p["unmet"]]
            for key in ((UNMET_TOTAL, "all", None), ("unmet_need", p["need"], None),
                        ("unmet_neighborhood", p["neighborhood"], None), ("unmet_language", p["language"], None)):
                acc = out[p["month"]].setdefault(key, [0, 0, 0])
                acc[0] += 1
                acc[1] += level >= 1
                acc[2] += level == 2
            continue
        cells = out[p["month"]]
        keys = [("total", "all", None), ("month", p["month"], None), ("need", p["need"], None),
                ("program", p["program"], p["need"])] + [(d, p[d], None) for d in GROUPS[2:]]
        for key in keys:
            acc = cells.setdefault(key, [0, 0, 0])
            acc[0] += 1
            acc[1] += p["level"] >= 1
            acc[2] += p["level"] == 2
    return dict(out)


def alone(period, months, pending=False, revision=1) -> Published:
    """A release as main made it: each table of this period suppressed on its own."""
    cells = suppress_release(period_counts(months, period.months()), period, None, pending, link_not_asked=False)
    return published(period, months, cells, pending, revision)


def published(period, months, cells, pending=False, revision=1) -> Published:
    return Published(f"{period.label} r{revision}", period.label, revision, tuple(period.months()), pending, cells,
                     {m: months.get(m, {}) for m in period.months()})


def jointly(history: list[Published], period, months, pending=False, revision=1) -> Published:
    result = suppress_jointly(history, period, revision, {m: months.get(m, {}) for m in period.months()},
                              pending, P)
    return published(period, months, result.cells, pending, revision)


def brute_force_clean(release: Published) -> None:
    """Every table of the release passes the exhaustive checker (exact sums and differences)."""
    def to_t(cells, dim, root, root_cell=("total", None, "all")):
        def node(n):
            return T(n.counts, tuple(cells[c][1]) if (c := ident(n)) in cells else (False,) * 3,
                     [node(ch) for ch in n.children])
        ids = {id(n): c for c, n in _cells_of(dim, root)}

        def ident(n):
            return ids.get(id(n), root_cell)
        return node(root)

    period = month(2026, 1, 1) if len(release.months) == 1 else quarter(2026, 1, 1)
    counts = period_counts(release.month_cells, release.months)
    by_dim = {}
    for g in counts:
        by_dim.setdefault(g.dimension, []).append(g)
    root_counts = tuple(release.cells[("total", None, "all")][0])
    for dim in [d for d in GROUPS if d != "need"] + (["month"] if len(release.months) > 1 else []):
        root = _tree(dim, by_dim, root_counts, period, None)
        assert leaks(to_t(release.cells, dim, root)) == [], (release.key, dim)
    unmet_root = (UNMET_TOTAL, None, "all")
    if unmet_root in release.cells:
        for dim in UNMET_DIMENSIONS:
            root = _tree(dim, by_dim, tuple(release.cells[unmet_root][0]), period, None)
            assert leaks(to_t(release.cells, dim, root, unmet_root)) == [], (release.key, dim)


def test_differencing_months_against_their_quarter():
    """Seen on main: a small group hidden in one month but shown in the other months and in the quarter
    is the quarter minus the other months (three American Indian or Alaska Native residents in January)."""
    rng = random.Random(1)
    people = []
    for m, aian in (("2026-01", 3), ("2026-02", 15), ("2026-03", 14)):
        people += crowd(m, 120, rng) + crowd(m, 90, rng, race_ethnicity="black_african_american", gender="man")
        people += crowd(m, 60, rng, race_ethnicity="hispanic_latino")
        people += [person(m, 0, race_ethnicity="american_indian_alaska_native")] * aian
    months = month_cells(people)
    q = quarter(2026, 1, 1)
    mons = [month(2026, k, 1) for k in (1, 2, 3)]
    before = [alone(p, months) for p in mons] + [alone(q, months)]
    found = audit(before).failures(P)
    assert any(f.release == "2026-01 r1" and f.cell == ("race_ethnicity", None, "american_indian_alaska_native")
               and f.width < 1 for f in found), "main's figures give January's 3 away"

    history: list[Published] = []
    for p in mons + [q]:
        history.append(jointly(history, p, months))
    result = audit(history)
    assert result.failures(P) == [], [str(f) for f in result.failures(P)][:5]
    assert result.protection() >= P
    q_cells = history[-1].cells
    assert not q_cells[("race_ethnicity", None, "american_indian_alaska_native")][1][0], "hidden with its month"
    for release in history:
        brute_force_clean(release)


def test_linked_not_asked_rows_of_race_and_gender():
    """Seen on main: race and gender "not asked" are the same referrals; one table hid it as a complement,
    the other showed it, and the hidden small cell followed (3 residents who preferred not to say)."""
    rng = random.Random(2)
    m = "2026-01"
    people = (crowd(m, 60, rng, race_ethnicity="white", gender="woman")
              + crowd(m, 45, rng, race_ethnicity="black_african_american", gender="man")
              + crowd(m, 20, rng, race_ethnicity="not_asked", gender="not_asked")
              + crowd(m, 3, rng, race_ethnicity="prefer_not_to_say", gender="prefer_not_to_say")
              + crowd(m, 12, rng, race_ethnicity="white", gender="prefer_not_to_say"))
    months = month_cells(people)
    jan = month(2026, 1, 1)
    before = alone(jan, months)
    race_na = before.cells[("race_ethnicity", None, "not_asked")][1]
    gender_na = before.cells[("gender", None, "not_asked")][1]
    assert race_na != gender_na, "main hides the same referrals in one table and shows them in the other"
    found = audit([before]).failures(P)
    assert any(f.cell == ("race_ethnicity", None, "prefer_not_to_say") and f.width < 1 for f in found)

    after = jointly([], jan, months)
    assert after.cells[("race_ethnicity", None, "not_asked")][1] == after.cells[("gender", None, "not_asked")][1]
    assert audit([after]).failures(P) == []
    brute_force_clean(after)


def test_polling_a_revision_cannot_tell_who_came_in_between():
    """Seen on main: one referral more between two downloads moved its race and gender rows by one. With
    releases, a later figure is a new revision, and the change is suppressed like a small count."""
    rng = random.Random(3)
    m = "2026-01"
    people = (crowd(m, 80, rng, race_ethnicity="white", gender="woman")
              + crowd(m, 70, rng, race_ethnicity="black_african_american", gender="man")
              + crowd(m, 40, rng, race_ethnicity="american_indian_alaska_native", gender="another"))
    first = month_cells(people)
    later = month_cells(people + [person(m, 2, race_ethnicity="american_indian_alaska_native", gender="another")])
    jan = month(2026, 1, 1)
    main_like = [alone(jan, first), alone(jan, later, revision=2)]
    found = audit(main_like).failures(P)
    assert any(f.quantity.startswith("change of") and f.truth == 1 and f.cell[0] in ("race_ethnicity", "gender")
               for f in found), "main's two downloads differ by exactly the one resident"

    r1 = jointly([], jan, first)
    r2 = jointly([r1], jan, later, revision=2)
    result = audit([r1, r2])
    assert result.failures(P) == [], [str(f) for f in result.failures(P)][:5]
    moved = [c for c, (counts, shown) in r2.cells.items() if shown[0] and c in r1.cells and r1.cells[c][1][0]
             and 1 <= abs(counts[0] - r1.cells[c][0][0]) <= 10]
    assert moved == [], "no shown count moved by 1 to 10 between the revisions"


def test_attacker_intervals_are_the_true_bounds_on_a_table_worked_by_hand():
    """Two hidden groups whose sum is known: each lies anywhere from 0 to that sum, not narrower."""
    rng = random.Random(4)
    m = "2026-01"
    people = (crowd(m, 50, rng, neighborhood="A") + [person(m, 0, neighborhood="B")] * 4
              + [person(m, 0, neighborhood="C")] * 30)
    months = month_cells(people)
    jan = month(2026, 1, 1)
    cells = suppress_release(period_counts(months, jan.months()), jan)
    assert not cells[("neighborhood", None, "B")][1][0] and not cells[("neighborhood", None, "C")][1][0]
    result = audit([published(jan, months, cells)])
    b = next(f for f in result.findings if f.cell == ("neighborhood", None, "B") and f.quantity == "referrals")
    assert (b.low, b.high) == pytest.approx((0.0, 34.0))


def test_a_wider_protection_interval_hides_more_and_still_holds():
    rng = random.Random(5)
    m = "2026-01"
    people = []
    for hood, n in (("A", 70), ("B", 9), ("C", 25), ("D", 14), ("E", 40)):
        people += crowd(m, n, rng, neighborhood=hood)
    months = month_cells(people)
    jan = month(2026, 1, 1)
    at5 = suppress_jointly([], jan, 1, months, False, 5.0)
    at20 = suppress_jointly([], jan, 1, months, False, 20.0)
    hidden = lambda r: sum(not s for _c, (_n, sh) in r.cells.items() for s in sh)  # noqa: E731
    assert hidden(at20) >= hidden(at5)
    assert at20.audit.failures(20.0) == [] and at20.audit.protection() >= 20.0


def test_a_referral_that_arrives_between_the_pending_and_the_final_revision():
    """The final revision counts a referral the pending one did not (a row written late): the attacker
    models it as absent from one version, solves, and the change of 1 is not given away."""
    rng = random.Random(6)
    m = "2026-01"
    people = crowd(m, 90, rng, gender="man") + crowd(m, 80, rng, gender="woman", race_ethnicity="asian")
    first = month_cells(people)
    later = month_cells(people + [person(m, 1, gender="another", race_ethnicity="asian")])
    jan = month(2026, 1, 1)
    r1 = jointly([], jan, first, pending=True)
    r2 = jointly([r1], jan, later, revision=2)
    result = audit([r1, r2])
    assert result.failures(P) == [], [str(f) for f in result.failures(P)][:5]
    assert r2.cells[("total", None, "all")][1][0] is False or r1.cells[("total", None, "all")][1][0] is False \
        or r2.cells[("total", None, "all")][0][0] - r1.cells[("total", None, "all")][0][0] not in range(1, 11)


def test_unmet_need_cannot_be_differenced_between_months_and_their_quarter():
    """Unmet need is its own table, suppressed with the rest. Tables suppressed one by one (as main did
    the others) give January's 3 unmet requests for small business away: the quarter minus February and
    March. The release suppression hides it, and every unmet-need figure (unmet, and the reasons as
    differences of the nested counts: all full, declined) keeps its protection interval."""
    rng = random.Random(7)
    people = []
    for m, small in (("2026-01", 3), ("2026-02", 15), ("2026-03", 14)):
        people += crowd(m, 150, rng) + crowd(m, 60, rng, race_ethnicity="hispanic_latino", language="es")
        people += (unmet(m, "declined", 20) + unmet(m, "all_full", 15, need="basic_needs")
                   + unmet(m, "no_program", 12, need="basic_needs", neighborhood="Westside", language="es")
                   + unmet(m, "no_program", small, need="small_business", neighborhood="Westside"))
    months = month_cells(people)
    q = quarter(2026, 1, 1)
    mons = [month(2026, k, 1) for k in (1, 2, 3)]
    before = [alone(p, months) for p in mons] + [alone(q, months)]
    assert not before[0].cells[("unmet_need", None, "small_business")][1][0], "January's 3 are hidden alone"
    found = audit(before).failures(P)
    assert any(f.release == "2026-01 r1" and f.cell == ("unmet_need", None, "small_business")
               and f.quantity == "referrals" and f.width < 1 for f in found), "per-table suppression leaks"

    history: list[Published] = []
    for p in mons + [q]:
        history.append(jointly(history, p, months))
    result = audit(history)
    assert result.failures(P) == [], [str(f) for f in result.failures(P)][:5]
    assert any(f.cell[0].startswith("unmet_") for f in result.findings), "the unmet tables were audited"
    for release in history:
        for cell, (counts, shown) in release.cells.items():
            if cell[0].startswith("unmet_"):
                assert all(not s or not 1 <= v <= 10 for v, s in zip(counts, shown)), (release.key, cell)
        brute_force_clean(release)
    q_cells = history[-1].cells
    assert q_cells[(UNMET_TOTAL, None, "all")][1] == [True, True, True], "the citywide unmet figures stay"
