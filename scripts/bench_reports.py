"""Benchmark of the equity report over one million referral_log rows, on SQLite and on PostgreSQL.

    .venv/bin/python scripts/bench_reports.py [--rows 1000000] [--runs 5] [--years 1] [--only sqlite|postgresql]

`--years 1` (the default) puts every row inside the report's twelve months: the worst case, about 220,000
referrals in one year. `--years 7` spreads them the way a city the size of the sample data (30,000
referrals a year) would accumulate them, so the default report reads one seventh.

Loads synthetic log rows (referrals/sample_data.py, seeds 7, 8, ...) into a fresh SQLite file and a fresh
PostgreSQL database of its own (created at TEST_PG_ADMIN_URL's server, dropped at the end), migrated with
the project's migrations (so with the report indexes), then times the default report: the last twelve
months, every table, suppression included. Prints the median and the range of `--runs` runs, after one
warm-up run. A figures table, not a test: nothing here fails when it is slow.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from referrals.config import Settings  # noqa: E402
from referrals.db import make_engine, make_sessionmaker  # noqa: E402
from referrals.models import ReferralLogEntry  # noqa: E402
from referrals.reports.assemble import build_report  # noqa: E402
from referrals.reports.counting import count_months, period_counts, program_names  # noqa: E402
from referrals.directory import load_directory_file, load_neighborhoods  # noqa: E402
from referrals.sample_data import Generator, log_rows  # noqa: E402
from referrals.store import upgrade  # noqa: E402

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
COLUMNS = ("referral_id", "resident_log_id", "event", "status", "need", "program_id", "neighborhood", "age_band",
           "language", "channel", "race_ethnicity", "gender", "occurred_at")


def make_rows(count: int, now: datetime, years: int = 1) -> tuple[list[dict], int]:
    """`count` log rows of synthetic referrals, spread over the `years` years before `now`."""
    settings = Settings.from_env()
    programs = load_directory_file(settings["DIRECTORY_FILE"])
    hoods = load_neighborhoods(settings["NEIGHBORHOODS_FILE"])
    rows: list[dict] = []
    referrals = 0
    for year in range(years):
        gen = Generator(programs, hoods, seed=7 + year, now=now - timedelta(days=365 * year))
        want = count * (year + 1) // years
        for story in gen.stories(10 ** 9):
            rows += log_rows(story)
            referrals += 1
            if len(rows) >= want:
                break
    rows = rows[:count]
    rows.sort(key=lambda r: r["occurred_at"])  # a real log grows in time order
    return rows, referrals


def load_sqlite(url: str, rows: list[dict]) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        for i in range(0, len(rows), 50_000):
            conn.execute(insert(ReferralLogEntry.__table__), rows[i:i + 50_000])
    engine.dispose()


def load_postgres(url: str, rows: list[dict]) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()
        with cur.copy(f"COPY referral_log ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in COLUMNS])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE referral_log"))  # what autovacuum does after a bulk load
    engine.dispose()


def time_report(url: str, runs: int, now: datetime) -> dict:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    from referrals.reports.calendar import fiscal_year

    period = fiscal_year(now.year, 1)  # the fiscal year of `now`: counting over twelve months
    totals, sql, cpu = [], [], []
    report = None
    for i in range(runs + 1):
        with sessions() as session:
            c0, t0 = time.process_time(), time.perf_counter()
            counts = period_counts(count_months(session, period.start, period.end), period.months())
            t1 = time.perf_counter()
            report = build_report(counts, period, program_names(session))
            c2, t2 = time.process_time(), time.perf_counter()
        if i:  # the first run warms the caches
            totals.append(t2 - t0)
            sql.append(t1 - t0)
            cpu.append(c2 - c0)
    engine.dispose()
    return {"median": statistics.median(totals), "min": min(totals), "max": max(totals),
            "sql": statistics.median(sql), "cpu": statistics.median(cpu), "referrals": report.total.referrals}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--years", type=int, default=1,
                        help="spread the rows over this many years (default 1: all inside the report's period)")
    args = parser.parse_args()
    now = datetime.now(timezone.utc)
    t = time.perf_counter()
    rows, referrals = make_rows(args.rows, now, args.years)
    print(f"generated {len(rows)} log rows ({referrals} referrals over {args.years} year(s)) in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    results = []
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            upgrade(url)
            t = time.perf_counter()
            load_sqlite(url, rows)
            print(f"sqlite: loaded in {time.perf_counter() - t:.1f} s", flush=True)
            results.append(("SQLite " + __import__("sqlite3").sqlite_version, time_report(url, args.runs, now)))
    if args.only in (None, "postgresql"):
        name = f"riverbend_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            version = conn.scalar(text("SHOW server_version"))
        try:
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
            upgrade(url)
            t = time.perf_counter()
            load_postgres(url, rows)
            print(f"postgresql: loaded in {time.perf_counter() - t:.1f} s", flush=True)
            results.append((f"PostgreSQL {version.split()[0]}", time_report(url, args.runs, now)))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print()
    print(f"Default equity report (last 12 months, all tables, suppression included) over {len(rows)} log rows "
          f"spread over {args.years} year(s); median of {args.runs} runs after one warm-up")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          "(other work on the machine slows every figure)")
    print("median/min/max: wall-clock seconds of the whole report; SQL: of the query alone; our CPU: CPU time of"
          " this process (all of SQLite's work, only the client side of PostgreSQL's)")
    print(f"{'database':<18} {'referrals':>10} {'median s':>9} {'min s':>7} {'max s':>7} {'SQL s':>7} "
          f"{'our CPU s':>9}")
    for name, r in results:
        print(f"{name:<18} {r['referrals']:>10} {r['median']:>9.3f} {r['min']:>7.3f} {r['max']:>7.3f} "
              f"{r['sql']:>7.3f} {r['cpu']:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
