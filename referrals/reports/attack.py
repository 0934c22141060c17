"""The attacker: a linear program that works out how narrowly published figures pin each suppressed one.

Why a solver. The exact audit in suppression.py proves that no small count follows *exactly* from one table.
A reader has more: every table, period and revision of a fiscal year, and inequalities (no count is
negative). Given all of that, the smallest and the largest value a hidden figure can take are two linear
programs. If they are close together (closer than the protection interval, `REPORT_PROTECTION`, 5 by
default), the figure is as good as published. This module writes those programs and solves them with
HiGHS (highspy); releases.py suppresses until every small figure is protected.

The model. Everything published is a sum of per-month cells, because each referral's outcome is counted
within a fixed window after the referral (dimensions.OUTCOME_DAYS): a quarter is exactly its three months. The
unknowns are, per month, per table, per group and per *state*, the number of referrals: a state is the
referral's outcome level (not contacted, contacted, enrolled) in each version of that month's data that a
final release used (a late correction makes a second version, so a revision's differences are unknowns
too), or "absent" when the number of referrals itself changed. Citywide cells tie the tables together
(each table to its own: the referral tables to "total", the unmet-need tables to "unmet_total", whose
three nested measures take the place of the outcome levels, see dimensions.UNMET_DIMENSIONS);
race and gender "not asked" are the same referrals, so they are one unknown. Need is the sum of its
programs. Where the citywide cells of a month are all published, each table is its own small program
(the tie is a known constant), which keeps the audit fast.

What is audited (the sensitive figures): every count of a group, and every difference between two counts
of a group (not contacted, contacted but not enrolled, not enrolled) whose true value is from 1 to 10, in
every release, and every change of a count between two revisions whose true size is from 1 to 10. The
protection reached is the smallest max - min over all of them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterable

import highspy
import numpy as np

from referrals.reports.dimensions import LINKED_NOT_ASKED, ROOTS, UNMET_DIMENSIONS, CellId, root_of
from referrals.reports.suppression import SMALL_MAX

N, C, E = 0, 1, 2
Cells = dict[tuple[str, str, "str | None"], list]  # dimensions.Cells: per month (dim, key, parent) -> [N, C, E]

# A sensitive figure: a combination of N, C, E of one cell (coefficients) and the measures it uses.
QUANTITIES: dict[str, tuple[int, int, int]] = {
    "referrals": (1, 0, 0), "contacted": (0, 1, 0), "enrolled": (0, 0, 1),
    "not contacted": (1, -1, 0), "contacted, not enrolled": (0, 1, -1), "not enrolled": (1, 0, -1),
}
FAMILIES: tuple[tuple[str, ...], ...] = (("need", "program"), LINKED_NOT_ASKED, ("neighborhood",),
                                         ("language",), ("channel",), ("age_band",), ("month",),
                                         *((d,) for d in UNMET_DIMENSIONS))
FAMILY_OF = {d: i for i, dims in enumerate(FAMILIES) for d in dims}


@dataclass
class Published:
    """One release revision: what it shows (and, for the audit, the truth behind it)."""

    key: str                      # e.g. "FY2026-Q1 r2"
    period: str                   # the period label; revisions of one period share it
    revision: int
    months: tuple[str, ...]
    pending: bool                 # contact and enrollment not published
    cells: dict[CellId, tuple[tuple[int, int, int], list[bool]]]
    month_cells: dict[str, Cells]  # raw cells of each of its months, as counted for this revision


@dataclass(frozen=True)
class Finding:
    release: str
    cell: CellId
    quantity: str
    truth: int
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low

    def measures(self) -> set[int]:
        if self.quantity.startswith("change of "):
            return {("referrals", "contacted", "enrolled").index(self.quantity[10:])}
        return {k for k, c in enumerate(QUANTITIES[self.quantity]) if c}

    def __str__(self) -> str:
        return (f"{self.release} {'/'.join(p for p in self.cell if p)} {self.quantity}: true {self.truth}, "
                f"a reader can tell it lies in [{self.low:.2f}, {self.high:.2f}]")


@dataclass
class Audit:
    findings: list[Finding] = field(default_factory=list)   # every sensitive figure with its interval
    programs_solved: int = 0
    joint: bool = False  # one program for all tables (a month's citywide cells are not all published)

    def failures(self, protection: float) -> list[Finding]:
        return [f for f in self.findings if f.width < protection - 1e-6]

    def protection(self) -> float | None:
        """The protection reached: the narrowest interval of any sensitive figure (None: none to protect)."""
        return min((f.width for f in self.findings), default=None)


def _key(cells: Cells) -> tuple:
    return tuple(sorted((k, tuple(v)) for k, v in cells.items()))


def _n_key(cells: Cells) -> tuple:
    return tuple(sorted((k, v[0]) for k, v in cells.items() if v[0]))


class _Versions:
    """Per month: the distinct versions of its data that releases used, and the states.

    A pending release (referrals only) shares the version of a final one with the same referral counts;
    otherwise it is a version of its own, and a referral can be "absent" from some versions.
    """

    def __init__(self, releases: list[Published]):
        self.versions: dict[str, list[list]] = {}          # month -> [[referral-count key, full key or None]]
        self.of: dict[tuple[str, str], int] = {}          # (release key, month) -> version
        self.leaves: dict[str, dict[str, set]] = {}       # month -> dim -> leaf keys
        self.linked: dict[str, bool] = {}                  # month -> race and gender "not asked" are one
        for r in releases:
            for m in r.months:
                cells = r.month_cells.get(m, {})
                same = (cells.get((LINKED_NOT_ASKED[0], "not_asked", None), [0, 0, 0])
                        == cells.get((LINKED_NOT_ASKED[1], "not_asked", None), [0, 0, 0]))
                # They are the same referrals when consent to analytics covers both questions (it does in
                # the conversation); data where they differ is audited without the link.
                self.linked[m] = self.linked.get(m, True) and same
                by_dim = self.leaves.setdefault(m, {})
                for (dim, key, parent), v in cells.items():
                    if dim in ROOTS or dim == "need" or not v[0]:
                        continue
                    by_dim.setdefault(dim, set()).add((parent, key))
                nk, fk = _n_key(cells), None if r.pending else _key(cells)
                versions = self.versions.setdefault(m, [])
                found = next((i for i, v in enumerate(versions)
                              if v[0] == nk and (fk is None or v[1] in (None, fk))), None)
                if found is None:
                    versions.append([nk, fk])
                    found = len(versions) - 1
                elif fk is not None:
                    versions[found][1] = fk
                self.of[(r.key, m)] = found
        self.states: dict[str, list[tuple[int, ...]]] = {}
        self.final: dict[str, bool] = {}
        for m, versions in self.versions.items():
            absent = len({v[0] for v in versions}) > 1
            self.final[m] = any(v[1] is not None for v in versions)
            if len(versions) == 1 and not self.final[m]:
                self.states[m] = [(0,)]  # only referrals are known: one state
                continue
            levels = (-1, 0, 1, 2) if absent else (0, 1, 2)
            self.states[m] = [s for s in itertools.product(levels, repeat=len(versions)) if max(s) >= 0]

    def need_leaves(self, m: str) -> dict[str, list]:
        cache = self.__dict__.setdefault("_needs", {})
        if m not in cache:
            out: dict[str, list] = {}
            for leaf in self.leaves.get(m, {}).get("program", ()):
                out.setdefault(leaf[0], []).append(leaf)
            cache[m] = out
        return cache[m]

    def match(self, release: Published, m: str, measure: int) -> list[int]:
        """Indices of the states of month m that `measure` of `release` counts."""
        memo = self.__dict__.setdefault("_match", {})
        hit = memo.get((release.key, m, measure))
        if hit is not None:
            return hit
        version = self.of[(release.key, m)]
        out = []
        for i, s in enumerate(self.states[m]):
            level = s[version] if len(s) > 1 or version == 0 else s[0]
            ok = level >= 0 if measure == N else level >= 1 if measure == C else level == 2
            if ok:
                out.append(i)
        memo[(release.key, m, measure)] = out
        return out


class _Program:
    """One linear program over some families, solved many times with different objectives."""

    def __init__(self):
        self.index: dict[tuple, int] = {}
        self.rows: list[tuple[dict[int, float], float]] = []

    def var(self, name: tuple) -> int:
        if name not in self.index:
            self.index[name] = len(self.index)
        return self.index[name]

    def build(self) -> None:
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        # The same constraints are solved hundreds of times with another objective: primal simplex from
        # the last basis (no presolve, which would throw the basis away) is several times faster.
        self.h.setOptionValue("presolve", "off")
        self.h.setOptionValue("simplex_strategy", 4)
        n = len(self.index)
        self.h.addVars(n, np.zeros(n), np.full(n, highspy.kHighsInf))
        for coefs, rhs in self.rows:
            idx = np.array(list(coefs), dtype=np.int32)
            val = np.array([coefs[i] for i in coefs], dtype=np.float64)
            self.h.addRow(rhs, rhs, len(idx), idx, val)
        self.cost = np.zeros(n)

    def bounds(self, objective: dict[int, float], enough: float | None = None) -> tuple[float, float]:
        """(min, max) of the objective. With `enough` (the true value plus the protection), the minimum is
        not computed when the maximum already reaches it: the interval holds the true value, so it is at
        least that wide, and the minimum is reported as the true value (a lower bound on the width)."""
        n = len(self.index)
        cost = np.zeros(n)
        for i, c in objective.items():
            cost[i] += c
        self.h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
        out = []
        for sense in (highspy.ObjSense.kMaximize, highspy.ObjSense.kMinimize):
            if out and enough is not None and out[0] >= enough[1]:
                out.append(enough[0])
                break
            self.h.changeObjectiveSense(sense)
            self.h.run()
            status = self.h.getModelStatus()
            if status == highspy.HighsModelStatus.kOptimal:
                out.append(self.h.getInfo().objective_function_value)
            elif status == highspy.HighsModelStatus.kUnbounded:
                out.append(float("inf"))
            else:
                # infeasible would mean the published figures contradict each other: a bug, say so
                raise RuntimeError(f"attacker LP not solved: {status}")
        return out[1], out[0]


def audit(releases: Iterable[Published], targets: set[str] | None = None, dims: set[str] | None = None,
          protection: float | None = None) -> Audit:
    """Intervals of every sensitive figure of the releases named in `targets` (default: all), from
    everything in `releases`; only of the tables in `dims` (default: all; the citywide cells count as
    "total"), when the caller knows the others did not change."""
    releases = list(releases)
    targets = {r.key for r in releases} if targets is None else targets
    vers = _Versions(releases)
    result = Audit()

    # Citywide unknowns T[root, m, state]: constants when the month's citywide N, C, E are published for
    # a single final version (or N alone when nothing final covers the month).
    pinned: dict[tuple[str, str], list[float] | None] = {}
    for root in ROOTS:
        for m, states in vers.states.items():
            pinned[(root, m)] = None
            if all(not r.month_cells.get(m, {}).get((root, "all", None), [0])[0]
                   for r in releases if m in r.months):
                pinned[(root, m)] = [0.0] * len(states)  # none that month: every table is all zeros
                continue
            single = [r for r in releases if r.months == (m,) and (root, None, "all") in r.cells]
            for r in single:
                counts, shown = r.cells[(root, None, "all")]
                if len(states) == 1 and shown[N]:
                    pinned[(root, m)] = [float(counts[N])]
                elif len(vers.versions[m]) == 1 and not r.pending and all(shown) and len(states) == 3:
                    n, c, e = counts
                    by_level = {0: n - c, 1: c - e, 2: e}
                    pinned[(root, m)] = [float(by_level[s[0]]) for s in states]
    # The families of one root are one program when its citywide cells are not all pinned, else each alone.
    groups: list[tuple[int, ...]] = []
    joint_roots: set[str] = set()
    for root in ROOTS:
        fams = tuple(i for i, dims in enumerate(FAMILIES) if root_of(dims[0]) == root)
        if any(p is None for (r, _m), p in pinned.items() if r == root):
            joint_roots.add(root)
            groups.append(fams)
        else:
            groups += [(i,) for i in fams]
    result.joint = bool(joint_roots)
    first_of = {root: next(g for g in groups if root_of(FAMILIES[g[0]][0]) == root) for root in ROOTS}

    def cell_expr(prog: _Program, r: Published, cell: CellId, measure: int, fams) -> tuple[dict[int, float], float]:
        dim, parent, key = cell
        coefs: dict[int, float] = {}
        const = 0.0
        for m in r.months:
            states = vers.match(r, m, measure)
            if dim in ROOTS:
                if pinned[(dim, m)] is not None:
                    const += sum(pinned[(dim, m)][i] for i in states)
                else:
                    for i in states:
                        v = prog.var(("T", dim, m, i))
                        coefs[v] = coefs.get(v, 0) + 1
                continue
            month_leaves = vers.leaves.get(m, {})
            if dim == "need":
                leaf_dim, chosen = "program", vers.need_leaves(m).get(key, ())
            else:
                leaf_dim = dim
                chosen = ((parent, key),) if (parent, key) in month_leaves.get(dim, ()) else ()
            name = "not_asked" if leaf_dim in LINKED_NOT_ASKED and key == "not_asked" and vers.linked[m] else leaf_dim
            for leaf in chosen:
                for i in states:
                    v = prog.var((name, leaf, m, i))
                    coefs[v] = coefs.get(v, 0) + 1
        return coefs, const

    wanted_dims = dims
    for fams in groups:
        dims = {d for f in fams for d in FAMILIES[f]}
        root = root_of(FAMILIES[fams[0]][0])
        joint = root in joint_roots
        if wanted_dims is not None and not joint and not dims & wanted_dims and not (
                root in wanted_dims and fams == first_of[root]):
            continue
        prog = _Program()
        # tables add up to the citywide cells, month by month and state by state
        for m, states in vers.states.items():
            for f in fams:
                leaf_dims = [d for d in FAMILIES[f] if d != "need"]
                for d in leaf_dims:
                    for i in range(len(states)):
                        coefs = {}
                        for leaf in vers.leaves.get(m, {}).get(d, ()):
                            name = ("not_asked" if d in LINKED_NOT_ASKED and leaf[1] == "not_asked"
                                    and vers.linked[m] else d)
                            coefs[prog.var((name, leaf, m, i))] = 1.0
                        if pinned[(root, m)] is not None:
                            prog.rows.append((coefs, pinned[(root, m)][i]))
                        else:
                            coefs[prog.var(("T", root, m, i))] = -1.0
                            prog.rows.append((coefs, 0.0))
        # every published figure
        for r in releases:
            for cell, (counts, shown) in r.cells.items():
                if cell[0] != root and cell[0] not in dims:
                    continue
                for k in range(3):
                    if shown[k]:
                        coefs, const = cell_expr(prog, r, cell, k, fams)
                        if coefs:
                            prog.rows.append((coefs, counts[k] - const))
        prog.build()

        def interval(objective: list[tuple[dict[int, float], float, float]], truth: float) -> tuple[float, float]:
            total: dict[int, float] = {}
            const = 0.0
            for coefs, c0, w in objective:
                const += w * c0
                for i, c in coefs.items():
                    total[i] = total.get(i, 0) + w * c
            total = {i: c for i, c in total.items() if c}
            if not total:
                return const, const
            result.programs_solved += 1
            enough = None if protection is None else (truth - const, truth - const + protection)
            lo, hi = prog.bounds(total, enough)
            return lo + const, hi + const

        by_period: dict[str, list[Published]] = {}
        for r in releases:
            by_period.setdefault(r.period, []).append(r)
        for r in releases:
            if r.key not in targets:
                continue
            for cell, (counts, _shown) in r.cells.items():
                in_group = cell[0] in dims or (cell[0] == root and fams == first_of[root])
                if not in_group:
                    continue
                for name, w in QUANTITIES.items():
                    if r.pending and (w[C] or w[E]):
                        continue
                    truth = sum(wk * counts[k] for k, wk in enumerate(w))
                    if not 1 <= truth <= SMALL_MAX:
                        continue
                    lo, hi = interval([(*cell_expr(prog, r, cell, k, fams), float(wk)) for k, wk in enumerate(w) if wk], truth)
                    result.findings.append(Finding(r.key, cell, name, truth, lo, hi))
                # changes between this revision and the one before it: referrals always, contact and
                # enrollment when both are final
                earlier = [p for p in by_period[r.period] if p.revision < r.revision]
                if earlier:
                    prev = max(earlier, key=lambda p: p.revision)
                    if cell in prev.cells:
                        for k, what in enumerate(("referrals", "contacted", "enrolled")):
                            if k and (r.pending or prev.pending):
                                continue
                            truth = counts[k] - prev.cells[cell][0][k]
                            if not 1 <= abs(truth) <= SMALL_MAX:
                                continue
                            lo, hi = interval([(*cell_expr(prog, r, cell, k, fams), 1.0),
                                               (*cell_expr(prog, prev, cell, k, fams), -1.0)], truth)
                            result.findings.append(Finding(r.key, cell, f"change of {what}", truth, lo, hi))
    return result
