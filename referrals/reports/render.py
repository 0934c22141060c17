"""A `Report` as plain text (for a terminal or a scheduled job's mail) and as CSV, with the footnotes both
share; the HTML with SVG charts is html.py. Every figure comes from a `Report`, which holds only suppressed
values.
"""

from __future__ import annotations

import csv
import io
from typing import Sequence

from referrals.reports.assemble import UNSTABLE_BELOW, Report, Row
from referrals.reports.dimensions import OUTCOME_DAYS, UNMET_TOTAL, label_for
from referrals.reports.suppression import SMALL_MAX

SUPPRESSED = "*"        # how a hidden cell reads in text and CSV
FLAG = "!"              # mark of a rate on fewer than UNSTABLE_BELOW referrals

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
