"""The open-data release: budget accounting and noise scale, checked against OpenDP and by sampling."""

from __future__ import annotations

import csv
import io
import json
import random
import statistics

import pytest

from referrals.reports import opendata
from referrals.reports.counting import period_counts
from referrals.reports.opendata import SENSITIVITY, TABLES, expected_error, make_open_release, measurement
from tests.test_releases_attack import crowd, month_cells, person


def _vector(counts):
    rows = [g for g in counts if g.dimension == "total"] + sorted(
        (g for g in counts if g.dimension in TABLES), key=lambda g: (TABLES.index(g.dimension), g.key))
    return {(g.dimension, g.key): (g.referrals, g.enrolled) for g in rows}


def test_one_referral_moves_the_published_counts_by_at_most_the_sensitivity():
    rng = random.Random(1)
    people = crowd("2026-01", 300, rng) + crowd("2026-01", 40, rng, need="savings", neighborhood="Downtown",
                                                    race_ethnicity="asian", gender="man", language="es")
    extra = person("2026-01", 2, need="wages", neighborhood="Westwood", race_ethnicity="white,asian",
                   gender="another", language="es", age_band="65_plus")
    a = _vector(period_counts(month_cells(people), ["2026-01"]))
    b = _vector(period_counts(month_cells(people + [extra]), ["2026-01"]))
    moved = sum(abs(x - y) for key in set(a) | set(b)
                for x, y in zip(a.get(key, (0, 0)), b.get(key, (0, 0))))
    assert moved == SENSITIVITY, "an enrolled referral touches one group per table and the city, twice"


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 2.0])
def test_the_budget_of_a_release_is_what_opendp_accounts(epsilon):
    meas, scale = measurement(epsilon)
    assert scale == pytest.approx(SENSITIVITY / epsilon)
    assert meas.map(SENSITIVITY) <= epsilon + 1e-9
    assert meas.map(SENSITIVITY) == pytest.approx(epsilon)
    rng = random.Random(2)
    counts = period_counts(month_cells(crowd("2026-01", 500, rng)), ["2026-01"])
    made = make_open_release(counts, "FY2026-Q1", "quarter", epsilon)
    assert made.metadata["epsilon"] == epsilon and made.metadata["epsilon_spent"] == pytest.approx(epsilon)
    assert made.metadata["noise_scale"] == pytest.approx(scale)
    footer = made.csv.strip().splitlines()[-1]
    assert json.loads(footer.strip('"').replace('""', '"')[2:])["epsilon"] == epsilon, "the budget is in the file"
    rows = [r for r in csv.reader(io.StringIO(made.csv)) if len(r) == 6][1:]
    assert rows[0][1] == "citywide" and {r[1] for r in rows[1:]} <= set(TABLES)
    assert all(0 <= int(r[4]) <= int(r[3]) for r in rows)


def test_the_noise_has_the_documented_scale():
    epsilon = 1.0
    meas, scale = measurement(epsilon)
    draws = [x - 1000 for x in meas([1000] * 12000)]
    std = statistics.pstdev(draws)
    assert std == pytest.approx(opendata.laplace_std(scale), rel=0.05)
    assert abs(statistics.fmean(draws)) < 0.5, "unbiased"
    inside = sum(abs(d) <= expected_error(epsilon) for d in draws) / len(draws)
    assert inside == pytest.approx(0.95, abs=0.01), "the documented 95% error is the 95% error"
