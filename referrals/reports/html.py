"""The equity report as an HTML fragment for the portal: per table, an SVG bar chart beside the table.

Why SVG built on the server: the portal runs on internal networks without internet access and sends a
Content-Security-Policy without inline script or style. An inline <svg> needs no script, no web font and
no file from anywhere; its colours are SVG presentation attributes (not CSS), so CSP allows them. Layout
(chart beside table) is in referrals/portal/static/reports.css, the one copy of the report's CSS, which the
portal serves as a static file.

Accessibility: each chart is `role="img"` with a <title> and a <desc> (what is plotted and the citywide
rates), every bar has its own <title>, and the same figures are in the table next to it, which is the
accessible version. Colours have a 4.5:1 contrast against white and bars are also labelled with text.

Every figure comes from a `Report`, which holds only suppressed values: nothing here can show a count
the suppression hid.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

from referrals.reports.assemble import UNSTABLE_BELOW, Report, Row, Table
from referrals.reports.dimensions import DIMENSIONS, label_for
from referrals.reports.render import (FLAG, PENDING, SUPPRESSED, UNMET_HEADERS, fmt_ratio, footnotes, release_name,
                                      status_line, unmet_figures, unmet_note)
from referrals.reports.suppression import SMALL_MAX

CONTACT_COLOUR = "#2f6eb5"
ENROLL_COLOUR = "#14365c"
CITY_COLOUR = "#b3261e"
TEXT_COLOUR = "#1f1f1f"
MUTED_COLOUR = "#595959"


def _pct(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"


def _count_cell(value: int | None) -> str:
    if value is None:
        return f'<td class="n s" title="Suppressed">{SUPPRESSED}</td>'
    return f'<td class="n">{value}</td>'


def _rate_cell(rate: float | None, row: Row) -> str:
    if rate is None:
        if row.referrals == 0:
            return '<td class="r"></td>'
        return f'<td class="r s" title="Suppressed">{SUPPRESSED}</td>'
    flag = (f' <span class="er-flag" title="Fewer than {UNSTABLE_BELOW} referrals">{FLAG}</span>'
            if row.small_base else "")
    return f'<td class="r">{_pct(rate)}{flag}</td>'


def _ratio_cell(ratio: float | None, rate: float | None, row: Row) -> str:
    text = fmt_ratio(ratio, rate, row)
    if text == SUPPRESSED:
        return f'<td class="r s" title="Suppressed">{text}</td>'
    return f'<td class="r">{text}</td>'


GAP_MARKS = 2    # how many groups per chart are marked as the largest gaps
GAP_RATIO = 0.9  # and only when their rate is at least 10% below the city's


def largest_gaps(table: Table, city: Row) -> list[str]:
    """Keys of the groups furthest below the citywide enrollment rate (then contact rate), largest first.

    Only groups whose rate is shown, rests on at least UNSTABLE_BELOW referrals and is at least 10% below
    the city's: a gap on a handful of referrals, or of a few tenths of a point, is noise, not news."""
    if table.dimension == "month":
        return []
    out = []
    for attr, city_rate in (("enroll_rate", city.enroll_rate), ("contact_rate", city.contact_rate)):
        if city_rate is None:
            continue
        gaps = sorted((getattr(r, attr) - city_rate, r.key) for r in table.rows
                      if getattr(r, attr) is not None and not r.small_base and r.referrals
                      and getattr(r, attr) < GAP_RATIO * city_rate)
        out = [k for _gap, k in gaps[:GAP_MARKS]]
        if out:
            return out
    return out


def _row_html(row: Row, pending: bool = False, gap: bool = False) -> str:
    label = escape(row.label) + (' <span class="er-gap-mark">(largest gap)</span>' if gap else "")
    head = f'<tr class="er-gap"><th scope="row">{label}</th>' if gap else f'<tr><th scope="row">{label}</th>'
    if pending:
        waiting = f'<td class="r p">{PENDING}</td><td class="r"></td><td class="r"></td>'
        return head + _count_cell(row.referrals) + waiting + waiting + "</tr>"
    return "".join((
        head, _count_cell(row.referrals), _count_cell(row.contacted),
        _rate_cell(row.contact_rate, row), _ratio_cell(row.contact_ratio, row.contact_rate, row),
        _count_cell(row.enrolled), _rate_cell(row.enroll_rate, row),
        _ratio_cell(row.enroll_ratio, row.enroll_rate, row), "</tr>"))


def table_html(table: Table, pending: bool = False, gaps: Sequence[str] = ()) -> str:
    """The figures of one table; program rows are grouped under their need; the largest gaps marked."""
    head = "<thead><tr>" + "".join(f'<th scope="col">{h}</th>' for h in (
        "Group", "Referrals", "Contacted", "Contact rate", "Ratio to city", "Enrolled", "Enrollment rate",
        "Ratio to city")) + "</tr></thead>"
    body, parent = [], object()
    for row in table.rows:
        if table.dimension == "program" and row.parent != parent:
            parent = row.parent
            body.append(f'<tr class="er-parent"><th colspan="8" scope="colgroup">'
                        f'{escape(label_for("need", row.parent or ""))}</th></tr>')
        body.append(_row_html(row, pending, row.key in gaps))
    if not table.rows:
        body.append('<tr><td colspan="8">No referrals in this period.</td></tr>')
    return (f'<table class="er-table" data-dimension="{escape(table.dimension)}"><caption>'
            f'{escape(table.title)}: figures</caption>{head}<tbody>{"".join(body)}</tbody></table>')


def unmet_table_html(table: Table, pending: bool = False) -> str:
    """One unmet-need table: unmet, no program fit, all full, declined (render.unmet_figures)."""
    head = "<thead><tr>" + "".join(f'<th scope="col">{h}</th>' for h in UNMET_HEADERS) + "</tr></thead>"
    body = []
    for row in table.rows:
        total, *reasons = unmet_figures(row)
        cells = ([f'<td class="r p">{PENDING}</td>'] * 3 if pending else [_count_cell(v) for v in reasons])
        body.append(f'<tr><th scope="row">{escape(row.label)}</th>{_count_cell(total)}{"".join(cells)}</tr>')
    if not table.rows:
        body.append('<tr><td colspan="5">No unmet need recorded in this period.</td></tr>')
    return (f'<table class="er-table" data-dimension="{escape(table.dimension)}"><caption>'
            f'{escape(table.title)}: figures</caption>{head}<tbody>{"".join(body)}</tbody></table>')


def unmet_section_html(report: Report) -> str:
    """The unmet-need tables of a release, citywide first (counts only: no rates to chart)."""
    if report.unmet_total is None:
        return ""
    tables = (Table("unmet_total", "Unmet need, citywide", (report.unmet_total,)),) + report.unmet
    return ('<section class="er-dimension er-unmet" id="er-unmet" data-dimension="unmet"><h3>Unmet need</h3>'
            f'<p>{escape(unmet_note(report))}</p>'
            + "".join(unmet_table_html(t, report.pending) for t in tables) + "</section>")


def _bar_label(row: Row) -> str:
    if row.parent and row.key:
        return f"{label_for('need', row.parent)} / {row.label}"
    return row.label


def rate_chart_svg(table: Table, city: Row, chart_id: str, pending: bool = False,
                   gaps: Sequence[str] = ()) -> str:
    """Horizontal bars: contact rate and enrollment rate of each group, citywide rates as red lines, the
    largest gaps below the city marked in words (not by colour alone). Text is 12 px or larger."""
    label_w, bar_w, right, top, row_h = 230, 300, 100, 46, 38
    rows = list(table.rows)
    height = top + max(1, len(rows)) * row_h + 30
    width = label_w + bar_w + right
    x0 = label_w

    def x(rate: float) -> float:
        return x0 + bar_w * max(0.0, min(rate, 1.0))

    title = f"Contact and enrollment rates by {DIMENSIONS.get(table.dimension, table.dimension).lower()}"
    desc = (f"Bar chart, one pair of bars per group: contact rate (lighter) and enrollment rate (darker), "
            f"0 to 100 percent. Citywide: contact {_pct(city.contact_rate) or 'suppressed'}, enrollment "
            f"{_pct(city.enroll_rate) or 'suppressed'} (red lines). Suppressed groups have no bars. "
            "The table beside the chart has every figure."
            + (f" Largest gaps below the city: {', '.join(r.label for r in rows if r.key in gaps)}." if gaps else ""))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" aria-labelledby="{chart_id}-t {chart_id}-d" '
           f'font-family="sans-serif" font-size="12" class="er-svg">',
           f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>',
           f'<rect x="{x0}" y="8" width="12" height="12" fill="{CONTACT_COLOUR}"/>'
           f'<text x="{x0 + 16}" y="18" fill="{TEXT_COLOUR}">Contact rate</text>'
           f'<rect x="{x0 + 110}" y="8" width="12" height="12" fill="{ENROLL_COLOUR}"/>'
           f'<text x="{x0 + 126}" y="18" fill="{TEXT_COLOUR}">Enrollment rate</text>'
           f'<line x1="{x0 + 236}" y1="14" x2="{x0 + 256}" y2="14" stroke="{CITY_COLOUR}" stroke-width="2" '
           f'stroke-dasharray="6 3"/><text x="{x0 + 260}" y="18" fill="{TEXT_COLOUR}">Citywide</text>']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        out.append(f'<line x1="{x(tick):.1f}" y1="{top - 8}" x2="{x(tick):.1f}" y2="{height - 26}" '
                   f'stroke="#d0d0d0" stroke-width="1"/>'
                   f'<text x="{x(tick):.1f}" y="{height - 10}" text-anchor="middle" fill="{MUTED_COLOUR}">'
                   f'{int(tick * 100)}%</text>')
    for i, row in enumerate(rows):
        y = top + i * row_h
        name = _bar_label(row) if table.dimension == "program" else row.label
        short = name if len(name) <= 34 else name[:33] + "…"
        out.append(f'<g class="er-bar" data-group="{escape(row.key)}">')
        out.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" fill="{TEXT_COLOUR}">'
                   f'<title>{escape(name)}</title>{escape(short)}</text>')
        if row.contact_rate is None and row.enroll_rate is None:
            why = "no referrals" if row.referrals == 0 else "outcomes pending" if pending else "suppressed"
            out.append(f'<text x="{x0 + 4}" y="{y + 17}" fill="{MUTED_COLOUR}" font-style="italic">'
                       f'{why}</text></g>')
            continue
        flag = FLAG if row.small_base else ""
        for j, (rate, colour, what) in enumerate(((row.contact_rate, CONTACT_COLOUR, "contact rate"),
                                                  (row.enroll_rate, ENROLL_COLOUR, "enrollment rate"))):
            by = y + 3 + j * 16
            if rate is None:
                out.append(f'<text x="{x0 + 4}" y="{by + 10}" fill="{MUTED_COLOUR}" font-size="12" '
                           f'font-style="italic">{what} suppressed</text>')
                continue
            out.append(f'<rect x="{x0}" y="{by}" width="{max(x(rate) - x0, 0.5):.1f}" height="11" fill="{colour}">'
                       f'<title>{escape(name)}: {what} {_pct(rate)}{flag}</title></rect>'
                       f'<text x="{x(rate) + 4:.1f}" y="{by + 10}" font-size="12" fill="{TEXT_COLOUR}">'
                       f'{_pct(rate)}{flag}</text>')
        if row.key in gaps:
            out.append(f'<text x="{label_w + bar_w + 8}" y="{y + 17}" fill="{CITY_COLOUR}" font-weight="bold" '
                       f'class="er-gap-mark">largest gap</text>')
        out.append("</g>")
    bottom = height - 26
    for rate, dash in ((city.contact_rate, "6 3"), (city.enroll_rate, "2 2")):
        if rate is not None:
            out.append(f'<line x1="{x(rate):.1f}" y1="{top - 8}" x2="{x(rate):.1f}" y2="{bottom}" '
                       f'stroke="{CITY_COLOUR}" stroke-width="2" stroke-dasharray="{dash}"/>')
    out.append("</svg>")
    return "".join(out)


def month_chart_svg(table: Table, chart_id: str) -> str:
    """Vertical bars: referrals per month; enrollment rate written under each bar."""
    rows = list(table.rows)
    left, top, plot_h, col_w = 50, 20, 180, 62
    width = left + max(1, len(rows)) * col_w + 10
    height = top + plot_h + 60
    peak = max([r.referrals or 0 for r in rows] + [1])
    title = "Referrals per month, with the enrollment rate of each month"
    desc = ("Column chart, one column per month, height = referrals made that month; the enrollment rate is "
            "written under each column. Suppressed months have no column. The table beside has every figure.")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" aria-labelledby="{chart_id}-t {chart_id}-d" font-family="sans-serif" '
           f'font-size="12" class="er-svg">',
           f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>',
           f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 5}" y2="{top + plot_h}" stroke="#888"/>',
           (f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" fill="{MUTED_COLOUR}">{peak}</text>'
            if peak > SMALL_MAX else ""),
           f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" fill="{MUTED_COLOUR}">0</text>']
    for i, row in enumerate(rows):
        cx = left + i * col_w + col_w / 2
        out.append(f'<g class="er-bar" data-group="{escape(row.key)}">')
        if row.referrals is None:
            out.append(f'<text x="{cx:.1f}" y="{top + plot_h - 6}" text-anchor="middle" fill="{MUTED_COLOUR}" '
                       'font-style="italic" font-size="12">suppr.</text>')
        elif row.referrals:
            h = plot_h * row.referrals / peak
            out.append(f'<rect x="{cx - col_w * 0.35:.1f}" y="{top + plot_h - h:.1f}" width="{col_w * 0.7:.1f}" '
                       f'height="{h:.1f}" fill="{CONTACT_COLOUR}"><title>{escape(row.label)}: '
                       f'{row.referrals} referrals, enrollment rate {_pct(row.enroll_rate) or "suppressed"}'
                       f'</title></rect>')
        out.append(f'<text x="{cx:.1f}" y="{top + plot_h + 14}" text-anchor="middle" fill="{TEXT_COLOUR}">'
                   f'{escape(row.label)}</text>'
                   f'<text x="{cx:.1f}" y="{top + plot_h + 30}" text-anchor="middle" fill="{ENROLL_COLOUR}" '
                   f'font-size="12">{_pct(row.enroll_rate)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def report_page_html(report: Report) -> str:
    """The whole release as one HTML fragment (a <section>), rendered once at publication and stored:
    every role gets these same bytes. Links (CSV, other revisions) are the portal's, around it."""
    city = report.total
    parts = ['<section class="equity-report" aria-labelledby="er-title">',
             f'<h2 id="er-title">Referrals, contact and enrollment: {escape(report.period.label)}</h2>',
             f'<p class="er-period-text">Release {escape(release_name(report))}, published '
             f'{report.generated_at.isoformat()}. Referrals created in the period (UTC). Built from the anonymous '
             'referral log only.</p>',
             f'<p class="er-status{" er-pending" if report.pending else ""}">{escape(status_line(report))}</p>']
    if report.suppressed_all:
        parts.append(f'<p class="er-empty">Fewer than {SMALL_MAX + 1} referrals in this period: every figure is '
                     'suppressed.</p>')
    parts.append('<dl class="er-citywide">'
                 f'<div><dt>Referrals</dt><dd>{escape(_fmt(city.referrals))}</dd></div>'
                 f'<div><dt>Contacted</dt><dd>{escape(_fmt(city.contacted))}</dd><dd class="er-sub">'
                 f'{_pct(city.contact_rate)}</dd></div>'
                 f'<div><dt>Enrolled</dt><dd>{escape(_fmt(city.enrolled))}</dd><dd class="er-sub">'
                 f'{_pct(city.enroll_rate)}</dd></div></dl>')
    for table in report.tables:
        chart_id = f"er-{table.dimension}-chart"
        gaps = largest_gaps(table, city)
        chart = (month_chart_svg(table, chart_id) if table.dimension == "month"
                 else rate_chart_svg(table, city, chart_id, report.pending, gaps))
        parts.append(f'<section class="er-dimension" id="er-{escape(table.dimension)}" '
                     f'data-dimension="{escape(table.dimension)}"><h3>{escape(table.title)}</h3>'
                     f'<div class="er-pair"><figure class="er-chart">{chart}'
                     f'<figcaption>{escape(table.title)}: chart (figures in the table)</figcaption></figure>'
                     f'{table_html(table, report.pending, gaps)}</div></section>')
    parts.append(unmet_section_html(report))
    parts.append('<footer class="er-notes">' + "".join(f"<p>{escape(line)}</p>" for line in footnotes(report))
                 + "</footer></section>")
    return "".join(parts)


def _fmt(v: int | None) -> str:
    return SUPPRESSED if v is None else str(v)
