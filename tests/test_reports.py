"""Equity reports on SQLite and PostgreSQL: figures, suppression in every output, CSV, the commands.

The figures are checked against counts this module works out itself, in plain Python, from the rows it
inserted. Suppression is checked on what a reader actually gets: the cells of the HTML, the CSV and the
text, and (with the exhaustive checker of test_reports_suppression.py) every sum and difference of them.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, insert, select

from referrals.config import ROOT
from referrals.db import make_sessionmaker
from referrals.models import ContactEntry, ProgramRow, ReferralCase, ReferralLogEntry, Resident
from referrals.reports.assemble import build_report
from referrals.reports.calendar import fiscal_year, month, quarter
from referrals.reports.counting import count_months, period_counts, program_names
from referrals.reports.dimensions import DIMENSIONS, OUTCOME_DAYS, UNMET_DIMENSIONS
from referrals.reports.html import report_page_html
from referrals.reports.render import csv_safe, render_csv, render_text
from tests.test_reports_suppression import T, leaks

PERIOD = quarter(2026, 1, 1)  # FY2026-Q1: 2026-01-01 to 2026-03-31 with the default January start
UTC = timezone.utc
PROGRAMS = {  # need -> programs; ids are what the log holds, names what the report shows
    "employment": [("p-jobs", "Jobs Center"), ("p-youth", "Youth Jobs")],
    "savings": [("p-save", "Savings Match")],
    "wages": [("p-wage", "Wage Clinic")],
}
HOODS = ["Eastside", "Downtown", "Las Palmas", None]
RACES = [None, "prefer_not_to_say", "white", "black_african_american", "hispanic_latino",
         "asian,white", "hispanic_latino,white", ""]
GENDERS = [None, "woman", "man", "another", "prefer_not_to_say", ""]


def _program_row(pid: str, name: str, position: int) -> dict:
    return dict(id=pid, name=name, organization="Test Org", provider="partner", active=True,
                accepting_referrals=True, hsds={}, position=position)


def make_log(seed: int = 5, referrals: int = 260) -> list[dict]:
    """Referral log rows with a known story: in-period referrals with small and large groups, and the
    traps (referrals just outside the period, outcomes after its end, statuses that are not contact)."""
    rng = random.Random(seed)
    rows: list[dict] = []
    needs = rng.choices(["employment", "savings", "wages"], weights=[70, 22, 8], k=referrals)
    for i in range(referrals):
        rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        need = needs[i]
        pid = rng.choice(PROGRAMS[need])[0] if need != "employment" else (
            "p-youth" if rng.random() < 0.12 else "p-jobs")
        created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(90 * 24 * 60))
        if i < 4:  # just outside the period, with statuses inside it: must not count
            created = [datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)][i % 2]
        base = dict(referral_id=rid, resident_log_id=str(uuid.uuid4()), need=need, program_id=pid,
                    neighborhood=rng.choices(HOODS, weights=[40, 35, 20, 5])[0],
                    age_band=rng.choice(["18_24", "25_54", "25_54", "65_plus", None]),
                    language="es" if rng.random() < 0.25 else "en",
                    channel="web" if rng.random() < 0.35 else "sms",
                    race_ethnicity=rng.choices(RACES, weights=[30, 8, 25, 20, 15, 1, 1, 1])[0],
                    gender=rng.choices(GENDERS, weights=[30, 35, 30, 2, 3, 2])[0])
        rows.append(dict(base, event="created", status="new", occurred_at=created))
        at = created + timedelta(hours=rng.randrange(1, 200))
        path = rng.choices([["claimed", "contacted", "enrolled", "closed"], ["claimed", "unreachable", "closed"],
                            ["claimed", "contacted", "declined"], ["claimed", "not_eligible"],
                            ["enrolled"], ["claimed"], []], weights=[30, 25, 10, 8, 4, 10, 13])[0]
        for status in path:
            rows.append(dict(base, event="status", status=status, occurred_at=at))
            at += timedelta(days=rng.choice([1, 3, 20, 60]))  # some land after the period's end
    return rows


def expected(rows: list[dict], period) -> dict[str, dict[tuple, list[int]]]:
    """Per dimension and group: [referrals, contacted, enrolled], worked out row by row (outcomes count
    when recorded within OUTCOME_DAYS of the referral)."""
    start = datetime.combine(period.start, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(period.end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    created_at = {r["referral_id"]: r["occurred_at"] for r in rows if r["event"] == "created"}
    statuses = defaultdict(set)
    for r in rows:
        if r["event"] == "status" and r["occurred_at"] < created_at[r["referral_id"]] + timedelta(days=OUTCOME_DAYS):
            statuses[r["referral_id"]].add(r["status"])
    out: dict[str, dict[tuple, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for r in rows:
        if r["event"] != "created" or not (start <= r["occurred_at"] < end):
            continue
        got = statuses[r["referral_id"]]
        contacted = bool(got & {"contacted", "enrolled", "not_eligible", "declined"})
        enrolled = "enrolled" in got
        race = r["race_ethnicity"]
        race = "not_asked" if race is None else "multiple" if "," in race else race
        keys = {"total": ("all",), "need": (r["need"],), "program": (r["need"], r["program_id"]),
                "neighborhood": (r["neighborhood"] or "",), "language": (r["language"],),
                "channel": (r["channel"],), "age_band": (r["age_band"] or "",), "race_ethnicity": (race,),
                "gender": ("not_asked" if r["gender"] is None else r["gender"],),
                "month": (r["occurred_at"].strftime("%Y-%m"),)}
        for dim, key in keys.items():
            acc = out[dim][key]
            acc[0] += 1
            acc[1] += contacted
            acc[2] += enrolled
    return out


@pytest.fixture
def loaded(engine):
    """The database of each kind with the programs and the log rows of `make_log`."""
    rows = make_log()
    with engine.begin() as conn:
        conn.execute(insert(ProgramRow.__table__), [_program_row(pid, name, i) for i, (pid, name) in
                                                    enumerate(p for ps in PROGRAMS.values() for p in ps)])
        conn.execute(insert(ReferralLogEntry.__table__), rows)
    return rows


def report_of(engine, period=PERIOD):
    """One period's report suppressed on its own (releases.py adds what other periods require)."""
    with make_sessionmaker(engine)() as session:
        months = count_months(session, period.start, period.end)
        return build_report(period_counts(months, period.months()), period, program_names(session))


def _row_key(dim: str, row) -> tuple:
    return (row.parent, row.key) if dim == "program" else (row.key,)


def _checker_tree(report, truth, dim: str) -> T:
    """The report's table as the exhaustive checker's tree: true counts, and what the report shows."""
    city = report.total

    def node(row, counts, children=()):
        return T(tuple(counts), tuple(v is not None for v in row.counts), list(children))

    if dim == "program":
        programs = report.table("program").rows
        needs = [node(n, truth["need"][(n.key,)], [node(p, truth["program"][(p.parent, p.key)])
                                                    for p in programs if p.parent == n.key])
                 for n in report.table("need").rows]
        return node(city, truth["total"][("all",)], needs)
    return node(city, truth["total"][("all",)],
                [node(r, truth[dim][_row_key(dim, r)]) for r in report.table(dim).rows])


def test_figures_match_counts_worked_out_independently(engine, loaded):
    truth = expected(loaded, PERIOD)
    report = report_of(engine)
    assert [t.dimension for t in report.tables] == list(DIMENSIONS)
    total = truth["total"][("all",)]
    assert report.total.counts == tuple(total)
    assert total[0] == 256  # the 4 referrals just outside the period are not in it
    assert report.total.contact_rate == pytest.approx(total[1] / total[0])
    hidden = shown = 0
    for table in report.tables:
        groups = truth[table.dimension]
        if table.dimension == "month":
            assert [r.key for r in table.rows] == ["2026-01", "2026-02", "2026-03"]
        assert {_row_key(table.dimension, r) for r in table.rows} == set(groups), table.dimension
        for row in table.rows:
            true = groups[_row_key(table.dimension, row)]
            for got, want in zip(row.counts, true):
                assert got is None or got == want, (table.dimension, row.key)
                hidden += got is None
                shown += got is not None
            if row.referrals is not None and row.enrolled is not None:
                assert row.enroll_rate == pytest.approx(true[2] / true[0])
                assert row.enroll_ratio == pytest.approx((true[2] / true[0]) / (total[2] / total[0]))
            else:
                assert row.enroll_rate is None and row.enroll_ratio is None
            assert row.small_base == (row.referrals is not None and row.referrals < 20)
    assert hidden > 10 and shown > 40  # the data has both small and large groups
    labels = {r.key: r.label for r in report.table("program").rows}
    assert labels["p-jobs"] == "Jobs Center"
    assert {r.label for r in report.table("race_ethnicity").rows} >= {
        "Multiracial and/or multiethnic (more than one)", "Not asked (no consent to analytics)"}


def test_no_count_from_1_to_10_can_be_worked_out_from_any_table(engine, loaded):
    truth = expected(loaded, PERIOD)
    report = report_of(engine)
    for table in report.tables:
        if table.dimension == "need":
            continue  # checked together with its programs
        assert leaks(_checker_tree(report, truth, table.dimension)) == [], table.dimension


class _Cells(HTMLParser):
    """Text of <td class="n ..."> cells and of SVG <title>s."""

    def __init__(self):
        super().__init__()
        self.counts, self.titles, self._in = [], [], None

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "td" and "n" in classes:
            self._in = "n"
        elif tag == "title":
            self._in = "t"

    def handle_endtag(self, tag):
        self._in = None if tag in ("td", "title") else self._in

    def handle_data(self, data):
        if self._in == "n":
            self.counts.append(data.strip())
        elif self._in == "t":
            self.titles.append(data)


def _assert_safe_count(text: str) -> None:
    assert text == "*" or (text.isdigit() and not 1 <= int(text) <= 10), text


def _assert_row_safe(counts: list[str]) -> None:
    """Shown counts of one row, and every difference of two of them: 0, 11 or more, or hidden."""
    for c in counts:
        _assert_safe_count(c)
    nums = [int(c) for c in counts if c != "*"]
    assert not [a - b for a in nums for b in nums if 1 <= a - b <= 10], counts


def test_html_csv_and_text_show_no_count_from_1_to_10(engine, loaded):
    report = report_of(engine)
    page, _, unmet_page = report_page_html(report).partition('<section class="er-dimension er-unmet"')
    cells = _Cells()
    cells.feed(page)
    assert len(cells.counts) == 3 * (1 + sum(len(t.rows) for t in report.tables)) - 3  # all but citywide's
    for i in range(0, len(cells.counts), 3):
        _assert_row_safe(cells.counts[i:i + 3])
    assert "*" in cells.counts
    unmet = _Cells()
    unmet.feed(unmet_page)  # four counts a row: unmet, no program fit, all full, declined
    assert len(unmet.counts) == 4 * (1 + sum(len(t.rows) for t in report.unmet))
    for n in unmet.counts:
        _assert_safe_count(n)
    for title in cells.titles:
        for n in re.findall(r"(\d+) referrals", title):
            _assert_safe_count(n)

    parsed = list(csv.reader(io.StringIO(render_csv(report))))
    header, body = parsed[0], [r for r in parsed[1:] if len(r) == len(parsed[0])]
    idx = [header.index(c) for c in ("referrals", "contacted", "enrolled")]
    assert len(body) == 1 + sum(len(t.rows) for t in report.tables)
    for r in body:
        _assert_row_safe([r[i] for i in idx])

    for line in render_text(report).splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) == 8 and parts[1] != "Referrals":
            _assert_row_safe([parts[1], parts[2], parts[5]])


def test_csv_is_utf8_crlf_with_formulas_neutralised(engine):
    evil = ["=HYPERLINK(\"http://example.org\")", "+1+1", "-2+3", "@SUM(A1)", "\tTabbed", "\rReturn",
            "Clínica Obrera"]
    start = datetime(2026, 2, 1, tzinfo=UTC)
    rows = []
    for i, name in enumerate(evil):
        for j in range(12):
            rid = str(uuid.uuid4())
            rows.append(dict(referral_id=rid, resident_log_id=str(uuid.uuid4()), event="created", status="new",
                             need="employment", program_id=f"p{i}", neighborhood=name, age_band=None,
                             language="es", channel="sms", race_ethnicity=None, gender=None,
                             occurred_at=start + timedelta(hours=i * 20 + j)))
    with engine.begin() as conn:
        conn.execute(insert(ProgramRow.__table__), [_program_row(f"p{i}", n, i) for i, n in enumerate(evil)])
        conn.execute(insert(ReferralLogEntry.__table__), rows)
    text = render_csv(report_of(engine))
    raw = text.encode("utf-8")
    assert raw.decode("utf-8") == text and "Clínica Obrera".encode("utf-8") in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")  # every line ends CRLF
    cells = [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    for name in evil[:-1]:
        assert cells.count("'" + name) == 2  # once as a program, once as a neighborhood
    assert any(c.startswith("* = suppressed") for c in cells)
    assert csv_safe("-5") == "'-5" and csv_safe("5") == "5" and csv_safe(None) == ""


def test_html_has_accessible_charts_and_no_outside_assets(engine, loaded):
    with engine.begin() as conn:
        conn.execute(ProgramRow.__table__.update().where(ProgramRow.id == "p-jobs")
                     .values(name="<script>alert(1)</script>"))
    page = report_page_html(report_of(engine))
    assert page.count('role="img"') == len(DIMENSIONS)
    assert page.count("<title id=") == len(DIMENSIONS) and page.count("<desc id=") == len(DIMENSIONS)
    assert page.count('<table class="er-table"') == len(DIMENSIONS) + 1 + len(UNMET_DIMENSIONS)  # + unmet need
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"\b(src|href)=\"(https?:)?//", page)
    assert not re.search(r"\sstyle=", page) and "<style" not in page  # the portal's CSP: no inline style


def test_nothing_to_report_suppresses_everything(engine):
    rows = [dict(referral_id=str(uuid.uuid4()), resident_log_id="r", event="created", status="new",
                 need="savings", program_id="p", neighborhood=None, age_band=None, language="en", channel="web",
                 race_ethnicity=None, gender=None, occurred_at=datetime(2026, 2, 2, tzinfo=UTC))
            for _ in range(7)]
    with engine.begin() as conn:
        conn.execute(insert(ReferralLogEntry.__table__), rows)
    report = report_of(engine)
    assert report.suppressed_all
    assert all(v is None for t in report.tables for r in t.rows for v in r.counts if v != 0)
    assert "every figure is suppressed" in render_text(report)
    empty = report_of(engine, month(2020, 1, 1))
    assert empty.total.counts == (0, 0, 0) and all(not t.rows for t in empty.tables)
    page = report_page_html(empty)
    assert page.count("No referrals in this period.") == len(DIMENSIONS) - 1  # a month has no month table
    assert page.count('role="img"') == len(DIMENSIONS) - 1
    assert "every figure is suppressed" in report_page_html(report)


# --- commands ---------------------------------------------------------------------------------------

def run_cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "referrals", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_commands_explain_a_database_they_cannot_use(tmp_path):
    missing = tmp_path / "missing.db"
    out = run_cli(f"sqlite:///{missing}", "report", "list")
    assert out.returncode == 1 and "no database at" in out.stderr and not missing.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    out = run_cli(f"sqlite:///{empty}", "report", "list")
    assert out.returncode == 1 and "python -m referrals db upgrade" in out.stderr
    unreachable = "postgresql+psycopg://someone:hunter2@127.0.0.1:9/nowhere"
    for args in (("report", "list"), ("sample-data", "--rows", "5")):
        out = run_cli(unreachable, *args)
        assert out.returncode == 1 and "cannot" in out.stderr and "Traceback" not in out.stderr
        assert "hunter2" not in out.stderr + out.stdout


def test_sample_data_command_writes_a_consistent_synthetic_year(db_url, engine):
    out = run_cli(db_url, "sample-data", "--rows", "1500", "--seed", "3")
    assert out.returncode == 0, out.stderr
    assert "wrote 1500 synthetic referrals" in out.stdout
    with engine.connect() as conn:
        cases = conn.execute(select(ReferralCase.__table__)).mappings().all()
        log = conn.execute(select(ReferralLogEntry.__table__).order_by(ReferralLogEntry.occurred_at,
                                                                       ReferralLogEntry.id)).mappings().all()
        residents = conn.execute(select(Resident.__table__)).mappings().all()
        contacts = conn.scalar(select(func.count()).select_from(ContactEntry))
    assert len(cases) == 1500 and all(r["pseudonym"].startswith("synthetic-") for r in residents)
    by_log_id = {r["log_id"]: r["pseudonym"] for r in residents}
    events = defaultdict(list)
    for row in log:
        events[row["referral_id"]].append(row)
    now = datetime.now(UTC)
    for case in cases:
        rows = events[case["id"]]
        assert rows[0]["event"] == "created" and sum(r["event"] == "created" for r in rows) == 1
        assert by_log_id[rows[0]["resident_log_id"]] == case["resident_pseudonym"]
        assert (rows[0]["need"], rows[0]["program_id"], rows[0]["neighborhood"]) == (
            case["need"], case["program_id"], case["neighborhood"])
        assert rows[-1]["status"] == case["status"]
        created = case["created_at"]
        created = created.replace(tzinfo=UTC) if created.tzinfo is None else created
        assert now - timedelta(days=366) < created < now
        if now - created < timedelta(days=13):
            assert case["status"] == "new"
        elif now - created > timedelta(days=15):
            assert case["status"] == "closed"
    open_cases = [c for c in cases if c["status"] == "new"]
    assert open_cases and len({c["organization"] for c in open_cases}) > 3
    assert contacts in (0, len({c["resident_pseudonym"] for c in open_cases}))
    assert len({c["neighborhood"] for c in cases}) >= 8 and {c["language"] for c in cases} == {"en", "es"}

    report = report_of(engine, fiscal_year(now.year, 1))  # most of the synthetic year
    rates = {r.key: r.enroll_rate for r in report.table("language").rows}
    assert rates["es"] < rates["en"]  # outcomes differ by group, so disparities show

    again = run_cli(db_url, "sample-data", "--rows", "100")
    assert again.returncode == 1 and "already loaded" in again.stderr
    replaced = run_cli(db_url, "sample-data", "--rows", "100", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ReferralCase)) == 100
        assert conn.scalar(select(func.count(func.distinct(ReferralLogEntry.referral_id)))) == 100


def test_sample_data_refuses_a_database_with_real_residents(db_url, engine):
    with engine.begin() as conn:
        conn.execute(insert(Resident.__table__), [dict(pseudonym="sms-abc", log_id=str(uuid.uuid4()))])
    out = run_cli(db_url, "sample-data", "--rows", "50")
    assert out.returncode == 1 and "1 real resident" in out.stderr
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ReferralCase)) == 0


def test_the_report_renders_against_the_one_css_the_portal_serves(engine, loaded):
    """The report's CSS has one source, the portal's static/reports.css (no copy in referrals/reports/html.py,
    and no inline style: the portal's CSP forbids it), and it styles the layout the page is built of."""
    from referrals.reports import html

    css = (ROOT / "referrals" / "portal" / "static" / "reports.css").read_text()
    page = report_page_html(report_of(engine))
    styled = set(re.findall(r"\.([a-z][a-z0-9-]*)", css))
    used = {c for attr in re.findall(r'class="([^"]+)"', page) for c in attr.split()}
    layout = {"equity-report", "er-pair", "er-chart", "er-table", "er-parent", "er-citywide", "er-status",
              "er-notes", "er-gap", "er-gap-mark", "n", "r", "s"}
    assert layout <= used and layout <= styled, (layout - used, layout - styled)
    assert "<style" not in page and " style=" not in page
    assert not [name for name, value in vars(html).items() if isinstance(value, str) and "{" in value and
                ".equity-report" in value]


def test_chart_text_is_at_least_12px_and_the_largest_gaps_are_marked(engine, loaded):
    report = report_of(engine)
    page = report_page_html(report)
    sizes = [int(v) for v in re.findall(r'font-size="(\d+)"', page)]
    assert sizes and min(sizes) >= 12
    city = report.total.enroll_rate
    for table in report.tables:
        if table.dimension == "month":
            continue
        section = page.split(f'data-dimension="{table.dimension}"><h3>', 1)[1].split("</section>", 1)[0]
        candidates = sorted((r.enroll_rate, r.label) for r in table.rows
                            if r.enroll_rate is not None and not r.small_base and r.referrals
                            and r.enroll_rate < 0.9 * city)
        marked = re.findall(r'<tr class="er-gap"><th scope="row">([^<]+) <span', section)
        if candidates:
            assert marked == [label for _rate, label in candidates[:2]] or sorted(marked) == sorted(
                label for _rate, label in candidates[:2]), table.dimension
            assert section.count(">largest gap</text>") == len(marked), "marked in the chart too"
    assert "(largest gap)" in page
