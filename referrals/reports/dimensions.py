"""What the equity tables count and how they are labelled: the dimensions, their groups' labels, the
cells of a release and the raw counts of a group. Pure data and small rules, shared by the counting in SQL
(counting.py), the suppression and assembly (assemble.py) and the renderers (render.py, html.py).
"""

from __future__ import annotations

from dataclasses import dataclass

NEED_LABELS: dict[str, str] = {
    "employment": "Finding a job",
    "job_training": "Job training",
    "wages": "Problems with pay",
    "city_jobs": "City jobs",
    "small_business": "Small business",
    "savings": "Saving money",
    "financial_coaching": "Debt, credit, taxes",
    "basic_needs": "Rent or food now",
    "human": "Talk to a person",
    "crisis": "Crisis",
    "out_of_scope": "Other",
}
AGE_LABELS: dict[str, str] = {
    "under_18": "Under 18", "18_24": "18 to 24", "25_54": "25 to 54", "55_64": "55 to 64",
    "65_plus": "65 or older",
}
LANGUAGE_LABELS: dict[str, str] = {"en": "English", "es": "Spanish"}
CHANNEL_LABELS: dict[str, str] = {"sms": "Text message (SMS)", "web": "Web chat",
                                  "terminal": "Terminal (staff test)"}
# OMB SPD 15 (2024 revision) minimum categories. A person may pick several: they are counted once, under
# "Multiracial and/or multiethnic", so each table still adds up to the total.
RACE_ETHNICITY_LABELS: dict[str, str] = {
    "american_indian_alaska_native": "American Indian or Alaska Native",
    "asian": "Asian",
    "black_african_american": "Black or African American",
    "hispanic_latino": "Hispanic or Latino",
    "middle_eastern_north_african": "Middle Eastern or North African",
    "native_hawaiian_pacific_islander": "Native Hawaiian or Pacific Islander",
    "white": "White",
    "multiple": "Multiracial and/or multiethnic (more than one)",
}
# SPD 15 has no gender categories; these are the codes the conversation stores (actions/answers.py).
GENDER_LABELS: dict[str, str] = {"woman": "Woman", "man": "Man", "another": "Another gender (e.g. nonbinary)"}
# "" is an unknown neighborhood or age band, or a demographic question asked but not answered.
COMMON_LABELS: dict[str, str] = {
    "prefer_not_to_say": "Prefer not to say", "not_asked": "Not asked (no consent to analytics)",
    "": "Not given",
}

DIMENSIONS: dict[str, str] = {
    "need": "Need",
    "program": "Program (within need)",
    "neighborhood": "Neighborhood",
    "language": "Language",
    "channel": "Channel",
    "age_band": "Age band",
    "race_ethnicity": "Race and ethnicity (self-reported, with consent)",
    "gender": "Gender (self-reported, with consent)",
    "month": "Month (trend)",
}
# Unmet need (issue 12, item 4): requests that ended without a referral, from the anonymous unmet-need
# log. Its own population with its own citywide cell ("unmet_total"), suppressed by the same machinery
# as the referral tables. Its three reasons are disjoint, so they fill the three nested measures the
# suppression and the attacker know: N = every unmet request, C = those no program could take (no program
# fit or all full), E = those no program fit at all. So all_full = C - E and declined = N - C, and the
# audits of differences cover them.
UNMET_DIMENSIONS: dict[str, str] = {
    "unmet_need": "Unmet need, by need",
    "unmet_neighborhood": "Unmet need, by neighborhood",
    "unmet_language": "Unmet need, by language",
}
UNMET_TOTAL = "unmet_total"
# The citywide cell each table adds up to.
ROOTS: tuple[str, ...] = ("total", UNMET_TOTAL)


def root_of(dimension: str) -> str:
    return UNMET_TOTAL if dimension in UNMET_DIMENSIONS or dimension == UNMET_TOTAL else "total"


_LABELS: dict[str, dict[str, str]] = {
    "need": NEED_LABELS, "neighborhood": {}, "language": LANGUAGE_LABELS, "channel": CHANNEL_LABELS,
    "age_band": AGE_LABELS, "race_ethnicity": RACE_ETHNICITY_LABELS, "gender": GENDER_LABELS, "month": {},
    "unmet_need": NEED_LABELS, "unmet_neighborhood": {}, "unmet_language": LANGUAGE_LABELS,
}


class ReportError(ValueError):
    """A report request a person can fix (bad date, unknown dimension); the message says how."""


def parse_dimensions(text: str | None) -> tuple[str, ...]:
    """`need,neighborhood` -> ("need", "neighborhood"); empty means all dimensions."""
    if not text or not text.strip():
        return tuple(DIMENSIONS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise ReportError(f"unknown dimension(s) {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}")
    return tuple(dict.fromkeys(names))


OUTCOME_DAYS = 90  # outcomes count when recorded within this many days of the referral (per referral)

# Raw counts of one month: (dimension, group key, parent key or None) -> [referrals, contacted, enrolled].
# "total" / "all" is the citywide cell. Never shown before suppression.
Cells = dict[tuple[str, str, "str | None"], list[int]]


@dataclass(frozen=True)
class GroupCount:
    """Raw counts of one group over a whole period: never shown before suppression."""

    dimension: str
    key: str
    parent: str | None
    referrals: int
    contacted: int
    enrolled: int


def label_for(dimension: str, key: str, programs: dict[str, str] | None = None) -> str:
    if dimension == "program":
        return (programs or {}).get(key) or f"Program {key[:8]} (no longer in the directory)"
    labels = _LABELS.get(dimension, {})
    return labels.get(key) or COMMON_LABELS.get(key) or key


def _sort_key(dimension: str, key: str, programs: dict[str, str] | None = None) -> tuple:
    """Known codes in their list's order, others by label, the unknowns last."""
    order = list(_LABELS.get(dimension, {}))
    tail = {"prefer_not_to_say": 1, "not_asked": 2, "": 3}.get(key, 0)
    pos = order.index(key) if key in order else len(order)
    return tail, pos, label_for(dimension, key, programs).casefold(), key


# A cell of a release: (dimension, parent key or None, group key); the citywide cell is ("total", None, "all").
CellId = tuple[str, "str | None", str]
# Tables whose "not asked" rows are the same referrals (no consent to analytics means neither question).
LINKED_NOT_ASKED = ("race_ethnicity", "gender")
