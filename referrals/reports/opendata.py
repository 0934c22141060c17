"""The open-data release: a CSV a city can put on its open-data portal, made differentially private.

Why differential privacy here and suppression elsewhere: the staff releases show exact counts and hide
the small ones; a file anyone on the internet can download, join and keep forever needs a guarantee that
does not depend on what else is published. Each count gets Laplace noise (OpenDP's `then_laplace`,
integer-valued), calibrated so the whole file costs a fixed privacy budget ε per release.

What it holds: for each whole fiscal quarter and fiscal year whose outcomes are final, referrals and
enrollments citywide and by need, neighborhood, language, age band, race and ethnicity, and gender, and
the enrollment rate worked out from the noisy counts (post-processing: no extra cost).

The accounting. The privacy unit is one referral. A referral is in exactly one group of each of the
TABLES tables and in the citywide row, and adds at most 1 to referrals and 1 to enrollments there, so
adding or removing one referral moves the vector of all published counts by at most
SENSITIVITY = 2 * (len(TABLES) + 1) in L1 distance. With noise scale b = SENSITIVITY / ε the release is
ε-differentially private (OpenDP checks it: `measurement.map(SENSITIVITY) <= ε`). A resident with k
referrals in the period is protected at k·ε. Each release is computed once and stored: downloading it
again spends nothing; a late correction is not re-released (that would spend the budget again).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass

import opendp.prelude as dp

from referrals.reports.dimensions import GroupCount, label_for
from referrals.reports.render import csv_safe

dp.enable_features("contrib")

TABLES = ("need", "neighborhood", "language", "age_band", "race_ethnicity", "gender")
MEASURES = 2  # referrals, enrolled
SENSITIVITY = MEASURES * (len(TABLES) + 1)
DEFAULT_EPSILON = {"quarter": 1.0, "year": 1.0}
ALPHA = 0.05  # expected error quoted at 95% confidence


def measurement(epsilon: float):
    """OpenDP's Laplace mechanism over a vector of integer counts, at the scale the budget allows."""
    scale = SENSITIVITY / epsilon
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    return space >> dp.m.then_laplace(scale=scale), scale


def expected_error(epsilon: float) -> float:
    """Half-width of the 95% interval of the noise on each count (OpenDP's accuracy formula)."""
    return dp.discrete_laplacian_scale_to_accuracy(scale=SENSITIVITY / epsilon, alpha=ALPHA)


@dataclass
class OpenRelease:
    csv: str
    metadata: dict


def make_open_release(counts: list[GroupCount], label: str, kind: str, epsilon: float | None = None) -> OpenRelease:
    """The noisy CSV of one period and its metadata (budget, scale, expected error)."""
    epsilon = DEFAULT_EPSILON[kind] if epsilon is None else epsilon
    meas, scale = measurement(epsilon)
    spent = meas.map(SENSITIVITY)
    if spent > epsilon * (1 + 1e-9):
        raise AssertionError(f"budget exceeded: {spent} > {epsilon}")
    rows = [g for g in counts if g.dimension == "total"] + sorted(
        (g for g in counts if g.dimension in TABLES), key=lambda g: (TABLES.index(g.dimension), g.key))
    true = [v for g in rows for v in (g.referrals, g.enrolled)]
    noisy = meas(true) if true else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(("period", "dimension", "group", "referrals_noisy", "enrolled_noisy", "enroll_rate_pct"))
    for i, g in enumerate(rows):
        n, e = max(0, noisy[2 * i]), max(0, noisy[2 * i + 1])
        e = min(e, n)
        rate = f"{100 * e / n:.1f}" if n >= 2 * expected_error(epsilon) else ""
        group = "all" if g.dimension == "total" else label_for(g.dimension, g.key)
        writer.writerow([csv_safe(c) for c in (label, "citywide" if g.dimension == "total" else g.dimension,
                                                group, n, e, rate)])
    metadata = {
        "period": label, "mechanism": "Laplace (OpenDP then_laplace, integer)", "privacy_unit": "one referral",
        "epsilon": epsilon, "epsilon_spent": spent, "l1_sensitivity": SENSITIVITY, "noise_scale": scale,
        "expected_error_95pct": round(expected_error(epsilon), 2), "tables": list(TABLES),
        "measures": ["referrals", "enrolled"],
        "notes": "Counts are noisy and clamped to 0..referrals; rates only where referrals are at least twice "
                 "the expected error. Computed once; late corrections are not re-released.",
    }
    writer.writerow([])
    writer.writerow([csv_safe("# " + json.dumps(metadata, sort_keys=True))])
    return OpenRelease(buf.getvalue(), metadata)


def laplace_std(scale: float) -> float:
    return math.sqrt(2) * scale
