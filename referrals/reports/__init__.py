"""Equity reports as releases: see docs/reports.md. The package imports nothing itself: import the module
you need, so that the pure ones stay free of SQL.

Pure (no SQL, no I/O):
- `calendar`: the periods a release may cover (whole months, fiscal quarters, fiscal years).
- `dimensions`: what the tables count and how groups are labelled; the cells and raw counts of a release.
- `suppression`: one table's exact small-cell suppression (primary and complementary, with its audit).
- `assemble`: a release's cells suppressed table by table, and the `Report` made of them.
- `render`: text and CSV. `html`: the HTML with SVG charts for the portal (its CSS is the portal's
  static/reports.css).

With a database session:
- `counting`: counting in SQL.
- `attack`: the linear-programming attacker that audits everything a role can download.
- `releases`: joint suppression across tables, periods and revisions; storage; publication.
- `opendata`: the differentially private open-data CSV.

The `report` command is in referrals/cli/report.py.
"""
