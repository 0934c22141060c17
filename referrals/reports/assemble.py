"""A release's figures from raw group counts: each table a tree of cells, suppressed (suppression.py) with
the citywide cells shared and the linked "not asked" rows hidden together, then assembled into the `Report`
the renderers show (render.py, html.py). Pure: no SQL, no rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Iterable, Iterator

from referrals.reports.dimensions import (DIMENSIONS, LINKED_NOT_ASKED, ROOTS, UNMET_DIMENSIONS, UNMET_TOTAL, CellId,
                                          GroupCount, _sort_key, label_for)
from referrals.reports.suppression import N, Node, primary_shown, suppress

if TYPE_CHECKING:
    from referrals.reports.calendar import ReleasePeriod

UNSTABLE_BELOW = 20     # rates on fewer referrals than this are flagged

# --- the report --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One group as shown: None means suppressed. Rates are fractions (0.25 = 25%)."""

    key: str
    label: str
    parent: str | None
    referrals: int | None
    contacted: int | None
    enrolled: int | None
    contact_rate: float | None
    enroll_rate: float | None
    contact_ratio: float | None
    enroll_ratio: float | None
    small_base: bool

    @property
    def counts(self) -> tuple[int | None, int | None, int | None]:
        return self.referrals, self.contacted, self.enrolled


@dataclass(frozen=True)
class Table:
    dimension: str
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Report:
    """The suppressed figures of one release. `pending`: outcomes are still being recorded, so the contact
    and enrollment columns are not published yet (they come in the next revision)."""

    period: "ReleasePeriod"
    generated_at: date
    total: Row
    tables: tuple[Table, ...]
    revision: int = 1
    pending: bool = False
    outcomes_final_on: date | None = None
    # Unmet need: its citywide row and its tables (Row.referrals/contacted/enrolled hold the UNMET_DIMENSIONS
    # measures; read them through unmet_figures).
    unmet_total: Row | None = None
    unmet: tuple[Table, ...] = ()

    def table(self, dimension: str) -> Table:
        for t in self.tables + self.unmet:
            if t.dimension == dimension:
                return t
        raise KeyError(dimension)

    @property
    def suppressed_all(self) -> bool:
        return self.total.referrals is None


def _rate(num: int | None, den: int | None) -> float | None:
    return None if num is None or den is None or den == 0 else num / den


def _ratio(rate: float | None, city: float | None) -> float | None:
    return None if rate is None or not city else rate / city


def _make_row(node: Node, label: str, parent: str | None, city: Row | None) -> Row:
    shown = [v if node.shown[k] else None for k, v in enumerate(node.counts)]
    n, c, e = shown
    cr, er = _rate(c, n), _rate(e, n)
    return Row(key=node.key, label=label, parent=parent, referrals=n, contacted=c, enrolled=e,
               contact_rate=cr, enroll_rate=er,
               contact_ratio=_ratio(cr, city.contact_rate) if city else None,
               enroll_ratio=_ratio(er, city.enroll_rate) if city else None,
               small_base=n is not None and 0 < n < UNSTABLE_BELOW)

def _tree(dim: str, by_dim: dict[str, list[GroupCount]], root_counts, period, programs) -> Node:
    root = Node("all", root_counts)
    groups = sorted(by_dim.get(dim, []), key=lambda g: _sort_key(dim, g.key, programs))
    if dim == "month":
        have = {g.key: g for g in groups}
        groups = [have.get(m, GroupCount("month", m, None, 0, 0, 0)) for m in period.months()]
    if dim == "program":
        needs = {g.key: g for g in by_dim.get("need", [])}
        for need_key in sorted(needs, key=lambda k: _sort_key("need", k)):
            ng = needs[need_key]
            node = Node(need_key, (ng.referrals, ng.contacted, ng.enrolled))
            node.children = [Node(g.key, (g.referrals, g.contacted, g.enrolled))
                             for g in groups if g.parent == need_key]
            root.children.append(node)
    else:
        root.children = [Node(g.key, (g.referrals, g.contacted, g.enrolled)) for g in groups]
    return root


def _cells_of(dim: str, root: Node) -> Iterator[tuple[CellId, Node]]:
    for node in root.children:
        if dim == "program":
            yield ("need", None, node.key), node
            for child in node.children:
                yield ("program", node.key, child.key), child
        else:
            yield (dim, None, node.key), node


def table_dimensions(period) -> list[str]:
    """The tables of a release: a month release has no month table (it would be its citywide row)."""
    return [d for d in DIMENSIONS if not (d == "month" and period.kind == "month")]


def suppress_release(counts: Iterable[GroupCount], period, forced: dict[CellId, set[int]] | None = None,
                     pending: bool = False, link_not_asked: bool = True
                     ) -> dict[CellId, tuple[tuple[int, int, int], list[bool]]]:
    """Every cell of a release: its true counts and which of N, C, E are shown.

    Each table is suppressed on its own (exact audit), with `forced` cells hidden first (what other
    periods and revisions require, worked out by releases.py), the citywide cells shared, and the linked
    "not asked" rows of race and gender hidden together. `pending` hides contact and enrollment everywhere.
    `link_not_asked=False` gives what the tables did before releases (each table alone): only for comparison.
    """
    forced = {k: set(v) for k, v in (forced or {}).items()}
    by_dim: dict[str, list[GroupCount]] = {}
    for g in counts:
        by_dim.setdefault(g.dimension, []).append(g)
    total = next((g for g in by_dim.get("total", [])), None)
    root_counts = (total.referrals, total.contacted, total.enrolled) if total else (0, 0, 0)
    root_shown = primary_shown(root_counts, [k not in forced.get(("total", None, "all"), set()) and
                                            not (pending and k) for k in range(3)])
    if not root_shown[N]:
        root_shown = [False, False, False]
    out: dict[CellId, tuple[tuple[int, int, int], list[bool]]] = {("total", None, "all"): (root_counts, root_shown)}
    dims = [d for d in table_dimensions(period) if d != "need"]
    for _round in range(4):
        trees = {}
        for dim in dims:
            root = _tree(dim, by_dim, root_counts, period, None)
            for cell, node in _cells_of(dim, root):
                node.forced = forced.get(cell, set())
            suppress(root, root_shown)
            trees[dim] = root
        hidden_na = {k for dim in LINKED_NOT_ASKED for cell, node in _cells_of(dim, trees[dim])
                     if cell[2] == "not_asked" for k in range(3) if not node.shown[k]}
        added = False
        for dim in LINKED_NOT_ASKED if link_not_asked else ():
            cell = (dim, None, "not_asked")
            if any(c == cell for c, _ in _cells_of(dim, trees[dim])) and not hidden_na <= forced.get(cell, set()):
                forced.setdefault(cell, set()).update(hidden_na)
                added = True
        if not added:
            break
    for dim, root in trees.items():
        for cell, node in _cells_of(dim, root):
            out[cell] = (node.counts, list(node.shown))
    out.update(_suppress_unmet(by_dim, period, forced, pending))
    return out


def _suppress_unmet(by_dim: dict[str, list[GroupCount]], period, forced: dict[CellId, set[int]],
                    pending: bool) -> dict[CellId, tuple[tuple[int, int, int], list[bool]]]:
    """The unmet-need tables: the same rules as the referral tables, over their own citywide cell.
    While outcomes are pending, only the unmet totals are shown, as only referrals are for the others
    (one state per month until the final revision: what the attacker's model knows)."""
    total = next((g for g in by_dim.get(UNMET_TOTAL, [])), None)
    root_counts = (total.referrals, total.contacted, total.enrolled) if total else (0, 0, 0)
    root_cell = (UNMET_TOTAL, None, "all")
    root_shown = primary_shown(root_counts, [k not in forced.get(root_cell, set()) and not (pending and k)
                                             for k in range(3)])
    if not root_shown[N]:
        root_shown = [False, False, False]
    out: dict[CellId, tuple[tuple[int, int, int], list[bool]]] = {root_cell: (root_counts, root_shown)}
    for dim in UNMET_DIMENSIONS:
        root = _tree(dim, by_dim, root_counts, period, None)
        for cell, node in _cells_of(dim, root):
            node.forced = forced.get(cell, set())
        suppress(root, root_shown)
        for cell, node in _cells_of(dim, root):
            out[cell] = (node.counts, list(node.shown))
    return out


def assemble_report(cells: dict[CellId, tuple[tuple[int, int, int], list[bool]]], period,
                    programs: dict[str, str] | None = None, generated_at: date | None = None, revision: int = 1,
                    pending: bool = False, outcomes_final_on: date | None = None) -> Report:
    """The report as shown, from suppressed cells."""
    counts, shown = cells[("total", None, "all")]
    city = _make_row(Node("all", counts, shown=shown), "Citywide", None, None)
    city = Row(**{**city.__dict__, "contact_ratio": None, "enroll_ratio": None})
    rows: dict[str, list[Row]] = {}
    for (dim, parent, key), (c, sh) in cells.items():
        if dim in ROOTS:
            continue
        label = label_for(dim, key, programs)
        rows.setdefault(dim, []).append(_make_row(Node(key, c, shown=sh), label, parent, city))
    tables = []
    for dim in table_dimensions(period):
        if dim == "program":
            need_order: dict[str | None, int] = {n.key: i for i, n in enumerate(rows.get("need", []))}
            got = sorted(rows.get(dim, []), key=lambda r: (need_order.get(r.parent, 99),
                                                          _sort_key(dim, r.key, programs)))
        else:
            got = rows.get(dim, [])
        tables.append(Table(dim, DIMENSIONS[dim], tuple(got)))
    unmet_total: Row | None = None
    unmet: tuple[Table, ...] = ()
    if (UNMET_TOTAL, None, "all") in cells:
        counts, shown = cells[(UNMET_TOTAL, None, "all")]
        unmet_total = _make_row(Node("all", counts, shown=shown), "Citywide", None, None)
        unmet = tuple(Table(dim, title, tuple(rows.get(dim, []))) for dim, title in UNMET_DIMENSIONS.items())
    return Report(period=period, generated_at=generated_at or datetime.now(timezone.utc).date(), total=city,
                  tables=tuple(tables), revision=revision, pending=pending, outcomes_final_on=outcomes_final_on,
                  unmet_total=unmet_total, unmet=unmet)


def build_report(counts: Iterable[GroupCount], period, programs: dict[str, str] | None = None,
                 forced: dict[CellId, set[int]] | None = None, **meta) -> Report:
    """Suppress (one release on its own) and assemble. Releases go through releases.py, which adds what
    other periods and revisions require."""
    return assemble_report(suppress_release(counts, period, forced, meta.get("pending", False)), period,
                           programs, **meta)
