"""Unmet need (issue 12, item 4): the anonymous log of requests that ended without a referral, and its
tables in the releases.

Classification through the real matcher on the sample directory; the log and its counting on SQLite and
PostgreSQL; a resident's DELETE and the retention sweep leave it (it is not personal data); and the
release tables, suppressed and audited with the rest. The conversation that writes a "declined" row runs
through the real gateway and Rasa in test_unmet_need_stack.py.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, insert, inspect, select

from referrals.db import make_sessionmaker
from referrals.models import UnmetNeedEntry
from referrals.residents import create_referral, record_unmet_need
from referrals.directory import load_directory_file
from referrals.matching import Answers, match_programs, unmet_reason
from referrals.privacy import delete_resident, purge_expired
from referrals.reports.counting import count_months
from referrals.reports.dimensions import UNMET_TOTAL
from referrals.reports.render import unmet_figures
from referrals.reports.releases import audit_all, get_release, publish
from tests.test_releases import _load

UTC = timezone.utc
SAMPLE = Path(__file__).resolve().parents[1] / "referrals" / "data" / "sample_directory.json"
# In the sample directory, savings programs are for adults but one: the credit-union coaching program
# ("financial_coaching" and "savings"), which takes 30 referrals a week and has no age limit.
OPEN_TO_MINORS = "1fe9eefd"


@pytest.fixture(scope="module")
def directory():
    return load_directory_file(SAMPLE)


def _id(programs, prefix: str) -> str:
    return next(p.id for p in programs if p.id.startswith(prefix))


# --- classification: no_program vs all_full (declined is the resident's "No thanks": the stack test) ----

def test_a_need_some_program_fits_is_not_unmet(directory):
    result = match_programs("savings", Answers(age_band="under_18"), directory)
    assert [m.program.id[:8] for m in result.matches] == [OPEN_TO_MINORS]
    assert unmet_reason(result) is None


def test_every_fitting_program_full_is_all_full_not_no_program(directory):
    """The only savings program a 16-year-old fits took its 30 referrals this week: the need was real and
    a program would have fit, so it is "all_full". The adults-only programs (one of them also closed) do
    not make it so: they would not have fit anyway."""
    full = {_id(directory, OPEN_TO_MINORS): 30}
    result = match_programs("savings", Answers(age_band="under_18"), directory, full)
    assert result.matches == []
    why = {p.id[:8]: sorted(r.code for r in reasons) for p, reasons in result.excluded}
    assert why[OPEN_TO_MINORS] == ["full"]
    assert why["dd98b783"] == ["age", "closed"], "closed, but for adults only: not a fit that was full"
    assert unmet_reason(result) == "all_full"


def test_full_programs_that_would_not_fit_anyway_are_no_program(directory):
    """Same resident, same full week, but the city has made the coaching program inactive: what is left
    is full or closed only for adults, so no program would have fit: "no_program"."""
    programs = [replace(p, active=False) if p.id.startswith(OPEN_TO_MINORS) else p for p in directory]
    result = match_programs("savings", Answers(age_band="under_18"), programs,
                            {_id(programs, OPEN_TO_MINORS): 30})
    assert result.matches == [] and unmet_reason(result) == "no_program"


def test_a_need_no_program_serves_is_no_program(directory):
    assert all("crisis" not in p.needs for p in directory)
    assert unmet_reason(match_programs("crisis", Answers(), directory)) == "no_program"


def test_closed_counts_like_full(directory):
    programs = [replace(p, accepting_referrals=False) if p.id.startswith(OPEN_TO_MINORS) else p
                for p in directory]
    assert unmet_reason(match_programs("savings", Answers(age_band="under_18"), programs)) == "all_full"


# --- the log, on SQLite and PostgreSQL ------------------------------------------------------------------

def test_the_unmet_log_holds_no_id_and_only_the_day(engine):
    columns = {c["name"] for c in inspect(engine).get_columns("unmet_need_log")}
    assert columns == {"id", "reason", "need", "neighborhood", "age_band", "language", "channel", "occurred_at"}
    with make_sessionmaker(engine).begin() as session:
        record_unmet_need(session, reason="declined", need="savings", neighborhood="Eastside", age_band="25_54",
                          language="es", channel="sms", now=datetime(2026, 2, 3, 17, 42, 9, 123456, tzinfo=UTC))
        with pytest.raises(ValueError):
            record_unmet_need(session, reason="bored", need="savings", neighborhood=None, age_band=None,
                              language="en", channel="web")
    with make_sessionmaker(engine)() as session:
        row = session.scalars(select(UnmetNeedEntry)).one()
    assert (row.reason, row.need, row.neighborhood, row.language, row.channel) == (
        "declined", "savings", "Eastside", "es", "sms")
    assert row.occurred_at.replace(tzinfo=UTC) == datetime(2026, 2, 3, tzinfo=UTC), "the day, not the minute"


def test_migration_goes_down_and_up(db_url):
    from alembic import command

    from referrals.db import make_engine
    from referrals.store import alembic_config, upgrade

    command.downgrade(alembic_config(db_url), "0002_promises_kw")
    engine = make_engine(db_url)
    try:
        assert "unmet_need_log" not in inspect(engine).get_table_names()
        upgrade(db_url)
        assert "unmet_need_log" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _unmet(engine, rows: list[tuple[str, str, str | None, str, datetime]]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(UnmetNeedEntry.__table__), [
            dict(reason=r, need=n, neighborhood=h, age_band=None, language=lang, channel="sms", occurred_at=at)
            for r, n, h, lang, at in rows])


def test_unmet_need_is_counted_by_month_need_neighborhood_and_language(engine):
    jan, feb = datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    _unmet(engine, [("declined", "savings", "Eastside", "en", jan)] * 2
           + [("all_full", "savings", None, "es", jan)] * 3
           + [("no_program", "wages", "Eastside", "es", jan)] * 4
           + [("no_program", "wages", "Eastside", "en", feb)])
    with make_sessionmaker(engine)() as session:
        months = count_months(session, date(2026, 1, 1), date(2026, 3, 31))
    j = months["2026-01"]
    # [every unmet request, no program could take it, no program fit]
    assert j[(UNMET_TOTAL, "all", None)] == [9, 7, 4]
    assert j[("unmet_need", "savings", None)] == [5, 3, 0] and j[("unmet_need", "wages", None)] == [4, 4, 4]
    assert j[("unmet_neighborhood", "Eastside", None)] == [6, 4, 4] and j[("unmet_neighborhood", "", None)] == [3, 3, 0]
    assert j[("unmet_language", "es", None)] == [7, 7, 4] and j[("unmet_language", "en", None)] == [2, 0, 0]
    assert months["2026-02"][(UNMET_TOTAL, "all", None)] == [1, 1, 1]
    assert (UNMET_TOTAL, "all", None) not in months["2026-03"]
    assert j[("total", "all", None)] == [0, 0, 0], "unmet need is not a referral"


def test_delete_and_retention_leave_the_unmet_log_which_links_to_no_one(engine, directory):
    """A resident who declined once and was referred later deletes their data: the case goes, the unmet
    row stays (nothing in it names them); the retention sweep keeps it too."""
    program = next(p for p in directory if p.id.startswith(OPEN_TO_MINORS))
    with make_sessionmaker(engine).begin() as session:
        record_unmet_need(session, reason="declined", need="savings", neighborhood="Eastside", age_band=None,
                          language="en", channel="sms")
        create_referral(session, pseudonym="pseudo-1", program=program, need="savings", answers=Answers(),
                        neighborhood="Eastside", channel="sms")
    with make_sessionmaker(engine).begin() as session:
        assert delete_resident(session, "pseudo-1")["residents"] == 1
        purge_expired(session, days=0, now=datetime(2100, 1, 1, tzinfo=UTC))
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(UnmetNeedEntry)) == 1


# --- releases ---------------------------------------------------------------------------------------

def test_released_unmet_need_is_suppressed_and_passes_the_attacker(engine):
    """Referrals of the test year, and unmet need with groups of every size: 3 declined in Las Palmas in
    January, 25 all full for basic needs, 14 no program in Spanish. The final releases show unmet need by
    need, neighborhood and language with every count 0 or more than 10, and the attacker cannot narrow
    any hidden one."""
    _load(engine, 200)
    rows = []
    for day, (n_full, n_none) in zip((10, 11, 12), ((25, 14), (18, 13), (30, 12))):
        for mon in (1, 2, 3):
            at = datetime(2026, mon, day, tzinfo=UTC)
            rows += [("all_full", "basic_needs", "Eastside", "en", at)] * (n_full // 3 + 4)
            rows += [("no_program", "small_business", "Downtown", "es", at)] * (n_none // 3 + 3)
            rows += [("declined", "savings", "Eastside", "en", at)] * (6 + mon)
    rows += [("declined", "savings", "Las Palmas", "en", datetime(2026, 1, 20, tzinfo=UTC))] * 3
    _unmet(engine, rows)
    with make_sessionmaker(engine).begin() as session:
        publish(session, date(2026, 8, 1))
    with make_sessionmaker(engine)() as session:
        q1 = get_release(session, "FY2026-Q1")
        jan = get_release(session, "2026-01")
        assert not q1.pending and not jan.pending
        audits = audit_all(session)
    assert audits[2026].failures(5.0) == [], [str(f) for f in audits[2026].failures(5.0)][:5]
    assert any(f.cell[0].startswith("unmet_") for f in audits[2026].findings)

    for release in (q1, jan):
        text = release.text
        assert "Unmet need, by need" in text and "Unmet need, by neighborhood" in text
        assert "Unmet need, by language" in text
        block = text[text.index("Unmet need, citywide"):text.index("Unmet need: requests")]
        figures = [f for line in block.splitlines() for f in re.split(r"\s{2,}", line.strip())[1:]
                   if line and not line.startswith(("Unmet need", "Group"))]
        assert figures and all(f == "*" or (f.isdigit() and not 1 <= int(f) <= 10) for f in figures), figures
        parsed = list(csv.reader(io.StringIO(release.csv)))
        start = parsed.index(["dimension", "group", "unmet", "no_program_fit", "all_full", "declined"])
        unmet_rows = [r for r in parsed[start + 1:] if len(r) == 6]
        assert {r[0] for r in unmet_rows} == {UNMET_TOTAL, "unmet_need", "unmet_neighborhood", "unmet_language"}
        for r in unmet_rows:
            assert all(v == "*" or (v.isdigit() and not 1 <= int(v) <= 10) for v in r[2:]), r
        assert 'id="er-unmet"' in release.html
    jan_cells = {(d, k): (c, sh) for d, p, k, c, sh in jan.cells}
    counts, shown = jan_cells[("unmet_neighborhood", "Las Palmas")]
    assert counts == [3, 0, 0] and not shown[0], "January's 3 in Las Palmas are not shown (its zeros may be)"
    assert "Las Palmas" in jan.text and "Las Palmas" in q1.text


def test_unmet_figures_show_a_reason_only_when_its_counts_are_shown():
    from referrals.reports.assemble import Row

    def row(n, c, e):
        return Row("k", "K", None, n, c, e, None, None, None, None, False)

    assert unmet_figures(row(40, 25, 12)) == (40, 12, 13, 15)
    assert unmet_figures(row(40, None, 12)) == (40, 12, None, None)
    assert unmet_figures(row(None, 25, None)) == (None, None, None, None)
