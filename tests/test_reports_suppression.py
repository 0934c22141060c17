"""Small-cell suppression against a reader who adds and subtracts everything a table shows.

The checker here is independent of referrals/reports/suppression.py: it writes every shown cell as a vector over the
disjoint counts underneath (per group: enrolled, contacted but not enrolled, not contacted), computes the
null space of those vectors with exact fractions, and then tries every set of those counts whose true total
is from 1 to 10: if the set's indicator vector is a combination of shown cells, a reader can work the number
out. The adversarial tables below are built so that hiding only the cells from 1 to 10 leaks (the test
shows that first), and a seeded stream of random tables full of small numbers and near-threshold
differences checks the property broadly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction

import pytest

from referrals.reports.suppression import Node, primary_shown, suppress


# --- independent checker ------------------------------------------------------------------------

@dataclass
class T:
    """A table cell group for the checker: true counts (N, C, E), which are shown, children."""

    counts: tuple[int, int, int]
    shown: tuple[bool, bool, bool]
    children: list["T"] = field(default_factory=list)


def _walk(t: T):
    yield t
    for c in t.children:
        yield from _walk(c)


def _leaves(t: T) -> list[T]:
    return [x for x in _walk(t) if not x.children]


def nullspace(rows: list[list[int]], n: int) -> list[list[Fraction]]:
    m = [[Fraction(x) for x in r] for r in rows]
    pivots: list[int] = []
    r = 0
    for c in range(n):
        p = next((i for i in range(r, len(m)) if m[i][c] != 0), None)
        if p is None:
            continue
        m[r], m[p] = m[p], m[r]
        pv = m[r][c]
        m[r] = [x / pv for x in m[r]]
        for i in range(len(m)):
            if i != r and m[i][c] != 0:
                f = m[i][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[r])]
        pivots.append(c)
        r += 1
        if r == len(m):
            break
    basis = []
    for free in (c for c in range(n) if c not in pivots):
        z = [Fraction(0)] * n
        z[free] = Fraction(1)
        for i, pc in enumerate(pivots):
            z[pc] = -m[i][free]
        basis.append(z)
    return basis


def leaks(root: T) -> list[tuple[tuple[int, ...], int]]:
    """Every set of disjoint counts whose total (1..10) a reader can work out from the shown cells."""
    leaves = _leaves(root)
    index = {id(leaf): i for i, leaf in enumerate(leaves)}
    values = []
    for leaf in leaves:
        n, c, e = leaf.counts
        assert 0 <= e <= c <= n, leaf.counts
        values += [e, c - e, n - c]  # atoms a, b, c of the leaf
    width = len(values)
    rows = []
    for node in _walk(root):
        under = [index[id(x)] for x in _leaves(node)] if node.children else [index[id(node)]]
        for k, parts in enumerate(((0, 1, 2), (0, 1), (0,))):  # N = a+b+c, C = a+b, E = a
            if node.shown[k]:
                v = [0] * width
                for li in under:
                    for p in parts:
                        v[3 * li + p] = 1
                rows.append(v)
    null = nullspace(rows, width)
    sig = [tuple(z[i] for z in null) for i in range(width)]
    zero_vec = tuple(Fraction(0) for _ in null)

    def add(x, y):
        return tuple(a + b for a, b in zip(x, y))

    # sums a reader may add at no cost: sets of zero counts that are not themselves known
    free_zero = {zero_vec}
    for i in (i for i in range(width) if values[i] == 0 and sig[i] != zero_vec):
        free_zero |= {add(s, sig[i]) for s in free_zero}
        assert len(free_zero) < 200_000, "table too large for the exhaustive checker"
    small = [i for i in range(width) if 1 <= values[i] <= 10]
    found = []

    def dfs(start: int, total: int, vec, chosen):
        if total:
            if tuple(-x for x in vec) in free_zero:
                found.append((tuple(chosen), total))
        for j in range(start, len(small)):
            i = small[j]
            if total + values[i] <= 10:
                dfs(j + 1, total + values[i], add(vec, sig[i]), chosen + [i])

    dfs(0, 0, zero_vec, [])
    return found


# --- building tables -------------------------------------------------------------------------------

def tree(total_children, nested=False):
    """A Node tree from leaf counts [(N, C, E), ...] or, nested, [[(N, C, E), ...], ...]."""
    def node(key, kids):
        n = tuple(sum(k.counts[i] for k in kids) for i in range(3))
        return Node(key, n, kids)
    if nested:
        mids = [node(f"m{i}", [Node(f"m{i}l{j}", c) for j, c in enumerate(g)])
                for i, g in enumerate(total_children)]
        return node("all", mids)
    return node("all", [Node(f"l{j}", c) for j, c in enumerate(total_children)])


def to_checker(node: Node) -> T:
    return T(node.counts, tuple(node.shown), [to_checker(c) for c in node.children])


def naive(root: Node) -> Node:
    """What a careless report does: hide the cells from 1 to 10 and nothing else."""
    for node in root.walk():
        node.shown = [not (1 <= v <= 10) for v in node.counts]
    return root


def shown_values(root: Node) -> list[int]:
    return [v for node in root.walk() for k, v in enumerate(node.counts) if node.shown[k]]


ADVERSARIAL = {
    # one small cell: total minus the other groups gives it back
    "single small cell": ([(40, 30, 20), (25, 20, 12), (7, 5, 3)], False),
    # two small cells: hidden together, their sum 3 + 4 = 7 is still total minus the rest
    "two small cells add up small": ([(50, 30, 20), (3, 2, 1), (4, 2, 0), (60, 40, 30)], False),
    # all shown counts are large, but referrals minus contacted is 5
    "small complement inside a row": ([(40, 35, 20), (60, 30, 15), (55, 25, 14)], False),
    # referrals minus enrolled is small though contacted is in between
    "small not-enrolled": ([(30, 28, 24), (50, 25, 12), (45, 20, 15)], False),
    # the complementary cell that naive thinking picks is 0: suppressing it protects nothing
    "zero as complement": ([(9, 0, 0), (0, 0, 0), (80, 50, 30), (40, 20, 11)], False),
    # a need is the sum of its programs: a small program leaks through its need's row
    "small program inside a need": ([[(30, 20, 12), (6, 4, 2)], [(50, 40, 30), (45, 30, 20)]], True),
    # the complement needed in one need's block forces a complement in the other block too
    "hidden need cell leaks through its programs": ([[(8, 5, 3), (4, 2, 1)], [(70, 50, 40), (12, 11, 11)],
                                                     [(33, 22, 11), (40, 30, 20)]], True),
    # a difference of two hidden cells across rows: (N - C) summed over two hidden groups
    "hidden pair with a small joint complement": ([(5, 0, 0), (20, 18, 12), (100, 60, 40), (30, 25, 20)], False),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_table_leaks_when_naive_and_not_after_suppression(name):
    data, nested = ADVERSARIAL[name]
    assert leaks(to_checker(naive(tree(data, nested)))), "the table should defeat naive suppression"
    root = suppress(tree(data, nested))
    assert leaks(to_checker(root)) == []
    assert not [v for v in shown_values(root) if 1 <= v <= 10]


def test_large_counts_are_all_shown():
    root = suppress(tree([(400, 300, 200), (250, 150, 100), (120, 80, 40)]))
    assert all(all(node.shown) for node in root.walk())


def test_small_citywide_total_hides_everything():
    root = suppress(tree([(4, 2, 1), (3, 1, 0)]))
    assert not any(any(node.shown) for node in root.walk())


def test_small_citywide_enrollment_hides_the_column_everywhere():
    root = suppress(tree([(40, 20, 3), (30, 15, 2), (50, 30, 0)]))
    assert not any(node.shown[2] for node in root.walk())
    assert all(node.shown[0] for node in root.walk())
    assert leaks(to_checker(root)) == []


def test_primary_rule_keeps_referrals_first():
    assert primary_shown((50, 45, 20)) == [True, False, True]   # 50-45 = 5 hides contacted
    assert primary_shown((50, 20, 15)) == [True, True, False]   # 20-15 = 5 hides enrolled
    assert primary_shown((15, 15, 15)) == [True, True, True]    # differences of 0 are fine
    assert primary_shown((8, 0, 0)) == [False, True, True]      # zeros stay visible


def _random_counts(rng: random.Random) -> tuple[int, int, int]:
    n = rng.choice([0, rng.randint(1, 10), rng.randint(11, 25), rng.randint(11, 25), rng.randint(26, 90)])
    c = max(0, min(n, n - rng.choice([0, rng.randint(1, 10), rng.randint(0, n)])))
    e = max(0, min(c, c - rng.choice([0, rng.randint(1, 10), rng.randint(0, c)])))
    return n, c, e


@pytest.mark.parametrize("seed", range(12))
def test_random_flat_tables_never_leak(seed):
    rng = random.Random(1000 + seed)
    defeated_naive = 0
    for _ in range(25):
        data = [_random_counts(rng) for _ in range(rng.randint(2, 5))]
        defeated_naive += bool(leaks(to_checker(naive(tree(data)))))
        root = suppress(tree(data))
        found = leaks(to_checker(root))
        assert found == [], (data, [n.shown for n in root.walk()], found)
    assert defeated_naive >= 12  # the stream really is adversarial


@pytest.mark.parametrize("seed", range(8))
def test_random_nested_tables_never_leak(seed):
    rng = random.Random(2000 + seed)
    defeated_naive = 0
    for _ in range(12):
        data = [[_random_counts(rng) for _ in range(rng.randint(1, 3))] for _ in range(rng.randint(2, 3))]
        defeated_naive += bool(leaks(to_checker(naive(tree(data, nested=True)))))
        root = suppress(tree(data, nested=True))
        found = leaks(to_checker(root))
        assert found == [], (data, [n.shown for n in root.walk()], found)
    assert defeated_naive >= 6


def test_checker_finds_what_a_reader_finds():
    """The checker itself, on a table with known leaks and on one without."""
    # x and y hide referrals only. Reader: N_x + N_y = 100 - 68 = 32 and C_x + C_y = 30, so together they
    # have 2 residents not contacted; y has none (a zero the reader cannot see), so x's 2 is the leak.
    # x's enrolled (5) and contacted-not-enrolled (10 - 5) are shown outright, and so are y's 10 and 10.
    # Counts are numbered per group: enrolled, contacted-not-enrolled, not contacted (x: 0-2, y: 3-5).
    t = T((100, 60, 30), (True, True, True), [
        T((12, 10, 5), (False, True, True)), T((20, 20, 10), (False, True, True)),
        T((68, 30, 15), (True, True, True))])
    assert sorted(leaks(t)) == [((0,), 5), ((0, 1), 10), ((0, 2), 7), ((1,), 5), ((1, 2), 7), ((2,), 2),
                               ((3,), 10), ((4,), 10)]
    safe = T((100, 60, 30), (True, True, True), [T((50, 30, 15), (True, True, True)),
                                                  T((50, 30, 15), (True, True, True))])
    assert leaks(safe) == []
