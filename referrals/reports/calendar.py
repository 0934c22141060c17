"""The release calendar: whole months, fiscal quarters and fiscal years, and nothing else.

Why a fixed calendar: a report over any two dates can be subtracted from a report over two other dates
(two downloads one day apart gave one resident's race and gender away). Releases exist only for whole
periods that have ended, named the same way everywhere: `2026-03` (a month), `FY2026-Q1` (a fiscal
quarter), `FY2026` (a fiscal year). A fiscal year is named after the calendar year in which it ends, as
US cities do: with a July start, FY2027 runs from 2026-07-01 to 2027-06-30. With the default January
start, FY2026 is the calendar year 2026.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

KINDS = ("month", "quarter", "year")


class PeriodError(ValueError):
    """A period name that is not on the calendar; the message says what is."""


def _add_months(y: int, m: int, k: int) -> tuple[int, int]:
    i = y * 12 + (m - 1) + k
    return i // 12, i % 12 + 1


def _month_end(y: int, m: int) -> date:
    ny, nm = _add_months(y, m, 1)
    return date(ny, nm, 1) - timedelta(days=1)


@dataclass(frozen=True)
class ReleasePeriod:
    """A whole period of the calendar; `end` is its last day (UTC)."""

    kind: str
    label: str
    start: date
    end: date
    fiscal_year: int

    def months(self) -> list[str]:
        out, (y, m) = [], (self.start.year, self.start.month)
        while date(y, m, 1) <= self.end:
            out.append(f"{y:04d}-{m:02d}")
            y, m = _add_months(y, m, 1)
        return out

    @property
    def order(self) -> tuple:
        """Publication order: by end date, then months before quarters before years."""
        return self.end, KINDS.index(self.kind), self.start

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def fiscal_year_of(y: int, m: int, start_month: int) -> int:
    """The fiscal year (named by the calendar year it ends in) that holds month y-m."""
    return y + 1 if start_month > 1 and m >= start_month else y


def fiscal_year(fy: int, start_month: int) -> ReleasePeriod:
    sy = fy - 1 if start_month > 1 else fy
    ey, em = _add_months(sy, start_month, 11)
    return ReleasePeriod("year", f"FY{fy}", date(sy, start_month, 1), _month_end(ey, em), fy)


def quarter(fy: int, q: int, start_month: int) -> ReleasePeriod:
    year = fiscal_year(fy, start_month)
    sy, sm = _add_months(year.start.year, year.start.month, 3 * (q - 1))
    ey, em = _add_months(sy, sm, 2)
    return ReleasePeriod("quarter", f"FY{fy}-Q{q}", date(sy, sm, 1), _month_end(ey, em), fy)


def month(y: int, m: int, start_month: int) -> ReleasePeriod:
    return ReleasePeriod("month", f"{y:04d}-{m:02d}", date(y, m, 1), _month_end(y, m),
                         fiscal_year_of(y, m, start_month))


def check_start_month(start_month: int) -> int:
    if not 1 <= start_month <= 12:
        raise PeriodError(f"the fiscal year must start in a month from 1 to 12, not {start_month}")
    return start_month


def parse_period(label: str, start_month: int) -> ReleasePeriod:
    """`2026-03`, `FY2026-Q1` or `FY2026`; PeriodError for anything else."""
    text = (label or "").strip()
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        y, mo = int(m[1]), int(m[2])
        if 1 <= mo <= 12 and 2000 <= y <= 2200:
            return month(y, mo, start_month)
    elif m := re.fullmatch(r"FY(\d{4})-Q([1-4])", text):
        if 2000 <= int(m[1]) <= 2200:
            return quarter(int(m[1]), int(m[2]), start_month)
    elif m := re.fullmatch(r"FY(\d{4})", text):
        if 2000 <= int(m[1]) <= 2200:
            return fiscal_year(int(m[1]), start_month)
    raise PeriodError(f"{label[:40]!r} is not a release period; periods are written 2026-03 (a month), "
                      "FY2026-Q1 (a fiscal quarter) or FY2026 (a fiscal year)")


def periods_of_year(fy: int, start_month: int) -> list[ReleasePeriod]:
    year = fiscal_year(fy, start_month)
    out = [month(*_add_months(year.start.year, year.start.month, k), start_month) for k in range(12)]
    out += [quarter(fy, q, start_month) for q in range(1, 5)] + [year]
    return sorted(out, key=lambda p: p.order)


def ended_periods(first: date, today: date, start_month: int) -> list[ReleasePeriod]:
    """Every period of the calendar that ended before `today` and holds a day on or after `first`."""
    out: list[ReleasePeriod] = []
    fy = fiscal_year_of(first.year, first.month, start_month)
    while fiscal_year(fy, start_month).start < today:
        out += [p for p in periods_of_year(fy, start_month) if p.end < today and p.end >= first]
        fy += 1
    return sorted(out, key=lambda p: p.order)
