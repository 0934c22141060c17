"""Publish the sample year's releases and audit them all with the LP attacker (the figures of docs/reports.md).

    .venv/bin/python scripts/audit_releases.py                 # 30,000 referrals, seed 1, as of 2026-12-02
    .venv/bin/python scripts/audit_releases.py --rows 5000 --protection 8

It makes a fresh SQLite database in a temporary folder, loads the synthetic year, runs
`report publish` as of the given day, then prints, per fiscal year: how many small figures the attacker
audited, the narrowest interval it could pin any of them to (the protection reached), and how many cells
the releases hide compared with suppressing each table of each period on its own (the code before
releases, on the same counts).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from referrals.config import Settings  # noqa: E402
from referrals.db import make_sessionmaker  # noqa: E402
from referrals.reports.calendar import parse_period  # noqa: E402
from referrals.reports.assemble import suppress_release  # noqa: E402
from referrals.reports.counting import period_counts  # noqa: E402
from referrals.models import ReportRelease  # noqa: E402
from referrals.reports.releases import _cells_from, _months_from, audit_all, publish  # noqa: E402
from referrals.sample_data import load_sample_data  # noqa: E402
from referrals.store import prepare  # noqa: E402


def label(key) -> str:
    from referrals.reports.dimensions import label_for
    return "all" if key[0] == "citywide" else label_for(key[0], key[1])


def hidden(cells, pending: bool) -> int:
    measures = (0,) if pending else (0, 1, 2)
    return sum(1 for counts, shown in cells.values() if counts[0] for k in measures if not shown[k])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--today", default="2026-12-02")
    parser.add_argument("--protection", type=float, default=5.0)
    args = parser.parse_args()
    today = date.fromisoformat(args.today)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp}/audit.db"})
        engine = prepare(settings)
        load_sample_data(engine, args.rows, args.seed, now=datetime.combine(today, datetime.min.time(),
                                                                             tzinfo=timezone.utc))
        started = time.monotonic()
        with make_sessionmaker(engine).begin() as session:
            rows = publish(session, today, protection=args.protection, log=print)
        print(f"published {len(rows)} releases in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        with make_sessionmaker(engine)() as session:
            results = audit_all(session)
            releases = list(session.query(ReportRelease).order_by(ReportRelease.id))
        print(f"audit of every release: {time.monotonic() - started:.0f} s")
        new = old = 0
        months_of = {}
        for r in releases:
            if r.kind == "open":
                continue
            months_of.setdefault(r.fiscal_year, {}).update(_months_from(r.month_cells))
            cells = _cells_from(r.cells)
            period = parse_period(r.period, 1)
            months = _months_from(r.month_cells)
            before = suppress_release(period_counts(months, period.months()), period, None, r.pending,
                                      link_not_asked=False)
            new += hidden(cells, r.pending)
            old += hidden(before, r.pending)
        for fy, result in results.items():
            reached = result.protection()
            print(f"FY{fy}: {len(result.findings)} small figures audited; protection reached "
                  f"{'n/a' if reached is None else f'{reached:g}'} (setting {args.protection:g}); "
                  f"{len(result.failures(args.protection))} below it")
        print(f"cells hidden (counts of groups with referrals, every release): {new} with releases, "
              f"{old} with each table of each period suppressed on its own")
        # the open-data releases: budget and the error measured against the true counts
        for r in releases:
            if r.kind != "open":
                continue
            import csv as _csv
            import io as _io
            import json as _json
            meta = _json.loads(r.text)
            period = parse_period(r.period.removesuffix("-open"), 1)
            truth = {}
            for g in period_counts(months_of[period.fiscal_year], period.months()):
                truth[("citywide" if g.dimension == "total" else g.dimension, g.key)] = (g.referrals, g.enrolled)
            errors = []
            for row in _csv.DictReader(_io.StringIO(r.csv)):
                if not row.get("referrals_noisy"):
                    continue
                key = next((k for k in truth if k[0] == row["dimension"] and label(k) == row["group"]), None)
                if key:
                    errors += [abs(int(row["referrals_noisy"]) - truth[key][0]),
                               abs(int(row["enrolled_noisy"]) - truth[key][1])]
            errors.sort()
            print(f"open data {r.period}: epsilon {meta['epsilon']:g}, noise scale {meta['noise_scale']:g}, "
                  f"expected 95% error ±{meta['expected_error_95pct']:g}; measured on {len(errors)} counts: "
                  f"mean |error| {sum(errors) / max(1, len(errors)):.1f}, 95th percentile "
                  f"{errors[int(0.95 * (len(errors) - 1))] if errors else 0}")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
