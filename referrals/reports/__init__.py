"""Equity reports as releases: see docs/reports.md.

- `calendar`: the periods a release may cover (whole months, fiscal quarters, fiscal years).
- `core`: counting in SQL, one table's exact small-cell suppression, text and CSV.
- `attack`: the linear-programming attacker that audits everything a role can download.
- `releases`: joint suppression across tables, periods and revisions; storage; publication.
- `opendata`: the differentially private open-data CSV.

The `report` command is in referrals/cli/report.py.
"""

from referrals.reports.core import *  # noqa: F401,F403  (the names other modules and tests use)
from referrals.reports.core import (DIMENSIONS, GroupCount, Node, Report, ReportError, Row, Table, build_report,
                                    csv_bytes, csv_safe, label_for, primary_shown, render_csv, render_text,
                                    suppress)
