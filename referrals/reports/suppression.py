"""Small-cell suppression of one table: which cells of a tree of counts may be shown. Pure: no SQL, no
rendering. referrals/reports/assemble.py builds the trees of a release; referrals/reports/releases.py adds
what other tables, periods and revisions require.

Why the small-cell rule is more than "hide 1 to 10". A reader can add and subtract what is shown: total
minus the shown groups gives the hidden ones, referrals minus contacted gives "not contacted", and the need
table adds up to the programs of each need. So each table is treated as a tree of cells (citywide total,
groups, and for programs: need, then program within need) over three disjoint counts per group: enrolled,
contacted but not enrolled, not contacted. After the primary rule (no shown count and no difference of
two shown counts of a group from 1 to 10) an audit searches every sum and difference of shown cells that
adds up to a count of people (a set of those disjoint counts) and checks none of them is from 1 to 10;
while one is, the smallest cell used to work it out is suppressed too (complementary suppression). The
search is exact for exact derivation by sums and differences within one table (see `_values`). What one
table cannot see (other tables, other periods, other revisions, bounds) is the job of the release layer
and its linear-programming attacker (releases.py, attack.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

SMALL_MAX = 10          # counts 1..SMALL_MAX are never shown nor derivable

# --- small-cell suppression -------------------------------------------------------------------------
#
# A table is a tree of nodes: the root (citywide), its groups, and for programs a level in between (need).
# Each node shows three cells: N (referrals), C (contacted), E (enrolled). Underneath, each leaf holds three
# disjoint counts ("atoms"): a = E, b = C - E, c = N - C. A reader knows the value of every shown cell and
# can take any linear combination of them. A combination counts people exactly when its coefficient on
# every atom is 0 or 1. Writing beta for the coefficient a combination gives, per node and column, to the
# cells of that node's subtree (the sum of the multipliers of the shown cells above it), a leaf's atom
# coefficients are c = bN, b = bN + bC, a = bN + bC + bE; so bN is 0 or 1 and bC, bE are -1, 0 or 1. A
# hidden cell takes its parent's beta, a shown one may take any. `_values` enumerates those choices with
# a subset-sum over children and returns every count of people a reader can work out (capped at 11).

N, C, E = 0, 1, 2
_DOMAINS = ((0, 1), (-1, 0, 1), (-1, 0, 1))
_CAP = SMALL_MAX + 1
_CAP_BIT = 1 << _CAP
_SMALL_BITS = ((1 << _CAP) - 1) & ~1          # values 1..10
# leaf patterns (include a, include b, include c) and the beta that yields each
_PATTERNS = tuple(((pc, pb - pc, pa - pb), (pa, pb, pc)) for pc in (0, 1) for pb in (0, 1) for pa in (0, 1))


@dataclass(eq=False)
class Node:
    """A cell group of a table: true counts (N, C, E), children, and which of the three cells are shown."""

    key: str
    counts: tuple[int, int, int]
    children: list["Node"] = field(default_factory=list)
    shown: list[bool] = field(default_factory=lambda: [True, True, True])
    forced: set[int] = field(default_factory=set)  # cells hidden from outside (other tables, periods)

    def walk(self) -> Iterator["Node"]:
        yield self
        for child in self.children:
            yield from child.walk()

    def atoms(self) -> tuple[int, int, int]:
        n, c, e = self.counts
        return e, c - e, n - c


def _small(v: int) -> bool:
    return 1 <= v <= SMALL_MAX


def _bit(v: int) -> int:
    return 1 << min(v, _CAP)


def _add(x: int, y: int) -> int:
    """Sumset of two value sets (bitsets over 0..10 plus 'more than 10')."""
    out, i = 0, 0
    while x:
        if x & 1:
            out |= y << i
        x >>= 1
        i += 1
    if out >> _CAP:
        out = (out & (_CAP_BIT - 1)) | _CAP_BIT
    return out


def primary_shown(counts: tuple[int, int, int], allowed: Sequence[bool] = (True, True, True)) -> list[bool]:
    """The cells of one node to show: no shown value and no difference of two shown values from 1 to 10.

    Keeps referrals first, then contacted, then enrolled.
    """
    for mask in ((1, 1, 1), (1, 1, 0), (1, 0, 1), (1, 0, 0), (0, 1, 1), (0, 1, 0), (0, 0, 1), (0, 0, 0)):
        shown = [bool(m) and allowed[k] for k, m in enumerate(mask)]
        values = [counts[k] for k in range(3) if shown[k]]
        if any(_small(v) for v in values):
            continue
        if any(_small(abs(x - y)) for i, x in enumerate(values) for y in values[i + 1:]):
            continue
        return shown
    return [False, False, False]


class _Audit:
    """Which counts of people a reader can work out exactly from the shown cells of one tree."""

    def __init__(self, root: Node):
        self.root = root
        self.memo: dict[tuple[int, tuple], int] = {}

    def _betas(self, node: Node, inherited: tuple[int, int, int]) -> Iterator[tuple[int, int, int]]:
        opts = [(_DOMAINS[k] if node.shown[k] else (inherited[k],)) for k in range(3)]
        for bn in opts[N]:
            for bc in opts[C]:
                for be in opts[E]:
                    yield bn, bc, be

    def _leaf_choices(self, node: Node, inherited) -> Iterator[tuple[tuple[int, int, int], int]]:
        a, b, c = node.atoms()
        for beta, (pa, pb, pc) in _PATTERNS:
            if all(node.shown[k] or beta[k] == inherited[k] for k in range(3)):
                yield beta, pa * a + pb * b + pc * c

    def values(self, node: Node, inherited: tuple[int, int, int]) -> int:
        key = (id(node), tuple(None if node.shown[k] else inherited[k] for k in range(3)))
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        out = 0
        if not node.children:
            for _beta, v in self._leaf_choices(node, inherited):
                out |= _bit(v)
        else:
            for beta in self._betas(node, inherited):
                acc = 1
                for child in node.children:
                    s = self.values(child, beta)
                    if not s:
                        acc = 0
                        break
                    acc = _add(acc, s)
                out |= acc
        self.memo[key] = out
        return out

    def leak(self) -> int | None:
        """A count from 1 to 10 a reader can work out, or None."""
        found = self.values(self.root, (0, 0, 0)) & _SMALL_BITS
        return (found & -found).bit_length() - 1 if found else None

    def explain(self, node: Node, inherited, target: int) -> list[tuple[Node, tuple[int, int, int]]]:
        """The beta of each node in one combination that works out `target` (1..10)."""
        if not node.children:
            for beta, v in self._leaf_choices(node, inherited):
                if v == target:
                    return [(node, beta)]
            raise AssertionError("no leaf choice for target")
        for beta in self._betas(node, inherited):
            sets = [self.values(ch, beta) for ch in node.children]
            if not all(sets):
                continue
            prefix = [1]
            for s in sets:
                prefix.append(_add(prefix[-1], s))
            if not prefix[-1] >> target & 1:
                continue
            out, t = [(node, beta)], target
            for i in reversed(range(len(sets))):
                v = next(v for v in range(t + 1) if sets[i] >> v & 1 and prefix[i] >> (t - v) & 1)
                out += self.explain(node.children[i], beta, v)
                t -= v
            return out
        raise AssertionError("no choice for target")


def suppress(root: Node, root_shown: Sequence[bool] | None = None) -> Node:
    """Decide `shown` for every cell of the tree, in place: primary, then complementary suppression.

    `root_shown` fixes the citywide cells (the same in every table); a hidden citywide cell hides its
    whole column, so no table can give it back.
    """
    root.shown = list(root_shown) if root_shown is not None else primary_shown(root.counts)
    if not root.shown[N]:
        for node in root.walk():
            node.shown = [False, False, False]
        return root
    for node in root.walk():
        if node is not root:
            node.shown = primary_shown(node.counts, [root.shown[k] and k not in node.forced for k in range(3)])
    parents = {id(ch): p for p in root.walk() for ch in p.children}
    while True:
        audit = _Audit(root)
        target = audit.leak()
        if target is None:
            return root
        chosen = dict((id(n), beta) for n, beta in audit.explain(root, (0, 0, 0), target))
        candidates = []
        for node in root.walk():
            if node is root or id(node) not in chosen:
                continue
            beta, up = chosen[id(node)], chosen[id(parents[id(node)])]
            for k in range(3):
                if node.shown[k] and beta[k] != up[k]:
                    v = node.counts[k]
                    candidates.append((v == 0, v, -k, node.key, node, k))
        if not candidates:  # cannot happen with a consistent tree; hide all rather than leak
            for node in root.walk():
                if node is not root:
                    node.shown = [False, False, False]
            continue
        *_, node, k = min(candidates, key=lambda c: c[:4])
        node.shown[k] = False
