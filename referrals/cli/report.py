"""`python -m referrals report ...`: publish releases (a daily job), list, show and audit them."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import inspect, make_url
from sqlalchemy.exc import SQLAlchemyError

from referrals.cli import database
from referrals.reports.calendar import PeriodError, check_start_month, parse_period


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser("publish", help="publish every release that is due (run daily)")
    pub.add_argument("--today", metavar="YYYY-MM-DD", help="publish as of this UTC date (default: today)")
    sub.add_parser("list", help="list the published releases (newest revision of each period)")
    show = sub.add_parser("show", help="print a published release as text, or its CSV")
    show.add_argument("period", help="2026-03 (a month), FY2026-Q1 (a fiscal quarter) or FY2026 (a fiscal year); "
                      "FY2026-Q1-open for the open-data release")
    show.add_argument("--revision", type=int, help="a revision number (default: the newest)")
    show.add_argument("--csv", action="store_true", help="print the CSV, byte for byte as the portal serves it")
    sub.add_parser("audit", help="run the linear-programming attacker over every published release")


def _settings_ints(settings) -> tuple[int, float]:
    start = check_start_month(int(settings["REPORT_FISCAL_YEAR_START"]))
    protection = float(settings["REPORT_PROTECTION"])
    if protection < 5:
        raise PeriodError(f"REPORT_PROTECTION must be at least 5, not {protection:g}")
    return start, protection


def _problem(engine) -> str | None:
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("report_releases"):
                return "it has no release table yet; create the schema with: python -m referrals db upgrade"
    except SQLAlchemyError as exc:
        return f"it cannot be reached ({type(exc.orig or exc).__name__})"
    return None


def run_report_command(args: argparse.Namespace, settings, out=None, err=None) -> int:
    """Exit 2 on bad arguments, 1 on an unusable database or a release that does not exist."""
    from referrals.reports import releases

    out, err = out or sys.stdout, err or sys.stderr
    database_url = settings if isinstance(settings, str) else settings.database_url
    try:
        start, protection = _settings_ints(settings) if not isinstance(settings, str) else (1, 5.0)
        today = date.fromisoformat(args.today) if getattr(args, "today", None) else None
        period = parse_period(args.period.removesuffix("-open"), start) if args.command == "show" else None
        label = (period.label + ("-open" if args.period.endswith("-open") else "")) if period else None
    except (PeriodError, ValueError) as exc:
        print(f"report: {exc}", file=err)
        return 2
    where = make_url(database_url).render_as_string(hide_password=True)
    if database_url.startswith("sqlite:///") and not Path(database_url.removeprefix("sqlite:///")).exists():
        print(f"report: no database at {where}; check DATABASE_URL", file=err)
        return 1
    with database(database_url) as (engine, sessions):
        problem = _problem(engine)
        if problem:
            print(f"report: cannot read the database at {where}: {problem}", file=err)
            return 1
        if args.command == "publish":
            try:
                with sessions.begin() as session:
                    rows = releases.publish(session, today, start, protection, log=lambda m: print(m, file=err))
            except RuntimeError as exc:  # the attacker's program could not be solved: publish nothing
                print(f"report: nothing published: {exc}", file=err)
                return 1
            print(f"{len(rows)} release(s) published", file=out)
            return 0
        with sessions() as session:
            if args.command == "list":
                rows = releases.list_releases(session)
                if not rows:
                    print("no releases yet; run: python -m referrals report publish", file=out)
                for r in rows:
                    state = "outcomes pending until " + r.outcomes_final_on.isoformat() if r.pending else "final"
                    print(f"{r.period:<10} revision {r.revision}  published {r.published_on}  {state}", file=out)
                return 0
            if args.command == "show":
                row = releases.get_release(session, label, args.revision)
                if row is None:
                    print(f"report: no release {label}"
                          + (f" revision {args.revision}" if args.revision else "")
                          + "; see: python -m referrals report list", file=err)
                    return 1
                out.write(row.csv if args.csv else row.text)
                return 0
            # audit
            worst = None
            for fy, result in releases.audit_all(session, start).items():
                reached = result.protection()
                failures = result.failures(protection)
                print(f"FY{fy}: {len(result.findings)} small figures audited; narrowest interval "
                      f"{'none' if reached is None else f'{reached:g}'}; {len(failures)} below {protection:g}",
                      file=out)
                for f in failures[:20]:
                    print(f"  {f}", file=out)
                if failures:
                    worst = 1
            return worst or 0
