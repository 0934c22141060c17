"""Matching: a pure function from a need and the resident's answers to ranked programs with reasons.

No I/O here: the caller passes the programs, how many referrals each took in the last 7 days, and the
area median income. Every decision is recorded as a `Reason` (a code the conversation can translate,
plus a plain-English detail for staff and tests), for programs that fit and for those that did not.

Answers the resident did not give ("prefer not to say", or a question we never asked) never exclude a
program: they make the fit "possible" and rank it below a confirmed fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from referrals.directory import Program
from referrals.topics import program_mentions, program_text

# Age bands the conversation offers: code -> (lowest age, highest age).
AGE_BANDS: dict[str, tuple[int, int]] = {
    "under_18": (14, 17),
    "18_24": (18, 24),
    "25_54": (25, 54),
    "55_64": (55, 64),
    "65_plus": (65, 120),
}

# Household income bands (USD per year): code -> (low, high).
INCOME_BANDS: dict[str, tuple[int, int]] = {
    "under_35k": (0, 34_999),
    "35k_60k": (35_000, 59_999),
    "60k_90k": (60_000, 89_999),
    "over_90k": (90_000, 10_000_000),
}

BUSINESS_STAGES = ("idea", "new", "established")
MAX_RESULTS = 3


@dataclass(frozen=True)
class Answers:
    """What the resident told us; None means not asked or not said."""

    zip_code: str | None = None
    age_band: str | None = None
    income_band: str | None = None
    business_stage: str | None = None
    language: str = "en"
    topics: tuple[str, ...] = ()  # what the resident spoke of (referrals/topics.py codes)


@dataclass(frozen=True)
class Reason:
    code: str
    detail: str


@dataclass
class Match:
    program: Program
    fits: list[Reason] = field(default_factory=list)
    doubts: list[Reason] = field(default_factory=list)
    score: int = 0


@dataclass
class MatchResult:
    matches: list[Match]
    excluded: list[tuple[Program, list[Reason]]]

    @property
    def programs(self) -> list[Program]:
        return [m.program for m in self.matches]


# Blockers that only say a program has no room now: without them the program would fit.
CAPACITY_CODES = frozenset({"full", "closed"})


def unmet_reason(result: MatchResult) -> str | None:
    """Why a request found no program, for the anonymous unmet-need log; None when some program fits.

    "all_full": at least one program serves the need and would fit these answers, except that every such
    program is full or closed. "no_program": no program serves the need for these answers at all.
    """
    if result.matches:
        return None
    if any(reasons and all(r.code in CAPACITY_CODES for r in reasons) for _p, reasons in result.excluded):
        return "all_full"
    return "no_program"


def questions_for(need: str, programs: Sequence[Program]) -> list[str]:
    """The eligibility questions worth asking for a need: only those some candidate program uses."""
    candidates = [p for p in programs if need in p.needs and p.active and p.accepting_referrals]
    asked = ["zip_code"]
    if any(p.min_age is not None or p.max_age is not None for p in candidates):
        asked.append("age_band")
    if any(p.max_income_ami_pct is not None for p in candidates):
        asked.append("income_band")
    if any(p.business_stages for p in candidates):
        asked.append("business_stage")
    return asked


def match_programs(
    need: str,
    answers: Answers,
    programs: Sequence[Program],
    recent_referrals: Mapping[str, int] | None = None,
    area_median_income: int = 98_000,
    limit: int = MAX_RESULTS,
) -> MatchResult:
    """Rank the programs that serve `need` for these answers; explain every decision."""
    recent_referrals = recent_referrals or {}
    matches: list[Match] = []
    excluded: list[tuple[Program, list[Reason]]] = []
    for program in programs:
        if need not in program.needs:
            continue
        match = Match(program)
        blockers: list[Reason] = []
        for check in (_status, _capacity, _area, _age, _income, _stage, _language, _topics):
            check(program, answers, match, blockers, recent_referrals, area_median_income)
        if blockers:
            excluded.append((program, blockers))
        else:
            matches.append(match)
    # Ties keep the directory's own order (the city lists its programs in the order it wants them seen);
    # never the alphabet, which put "Child Care Subsidy" first for "my landlord is evicting me".
    matches.sort(key=lambda m: (-m.score, len(m.doubts)))
    return MatchResult(matches=matches[:limit], excluded=excluded + [(m.program, [Reason(
        "ranked_lower", "fits, but others fit better")]) for m in matches[limit:]])


def _status(p, a, m, blockers, recent, ami):
    if not p.active:
        blockers.append(Reason("inactive", "program is not active"))


def _capacity(p, a, m, blockers, recent, ami):
    if not p.accepting_referrals:
        blockers.append(Reason("closed", "not accepting new referrals"))
    elif p.weekly_capacity is not None and recent.get(p.id, 0) >= p.weekly_capacity:
        blockers.append(Reason("full", f"took {recent.get(p.id, 0)} of {p.weekly_capacity} referrals this week"))


def _area(p, a, m, blockers, recent, ami):
    if not p.zip_codes:
        m.fits.append(Reason("citywide", "serves the whole city"))
        m.score += 1
    elif a.zip_code is None:
        m.doubts.append(Reason("area_unknown", "serves some neighborhoods; yours is not known"))
    elif a.zip_code in p.zip_codes:
        m.fits.append(Reason("serves_area", f"serves ZIP {a.zip_code}"))
        m.score += 3  # a neighborhood program near the resident beats a citywide one
    else:
        blockers.append(Reason("outside_area", f"serves only ZIP {', '.join(p.zip_codes)}"))


def _age(p, a, m, blockers, recent, ami):
    if p.min_age is None and p.max_age is None:
        return
    low, high = p.min_age or 0, p.max_age or 200
    if a.age_band not in AGE_BANDS:
        m.doubts.append(Reason("age_unknown", f"for ages {low}-{high}"))
        return
    b_low, b_high = AGE_BANDS[a.age_band]
    if b_high < low or b_low > high:
        blockers.append(Reason("age", f"for ages {low}-{high}"))
    elif low <= b_low and b_high <= high:
        m.fits.append(Reason("age", f"for ages {low}-{high}"))
        m.score += 2
    else:
        m.doubts.append(Reason("age_partly", f"for ages {low}-{high}"))


def _income(p, a, m, blockers, recent, ami):
    if p.max_income_ami_pct is None:
        return
    limit = ami * p.max_income_ami_pct // 100
    if a.income_band not in INCOME_BANDS:
        m.doubts.append(Reason("income_unknown", f"income limit about ${limit:,} a year"))
        return
    low, high = INCOME_BANDS[a.income_band]
    if low > limit:
        blockers.append(Reason("income", f"income limit about ${limit:,} a year"))
    elif high <= limit:
        m.fits.append(Reason("income", f"income limit about ${limit:,} a year"))
        m.score += 2
    else:
        m.doubts.append(Reason("income_partly", f"income limit about ${limit:,} a year"))


def _stage(p, a, m, blockers, recent, ami):
    if not p.business_stages:
        return
    if a.business_stage not in BUSINESS_STAGES:
        m.doubts.append(Reason("stage_unknown", f"for businesses at stage {', '.join(p.business_stages)}"))
    elif a.business_stage in p.business_stages:
        m.fits.append(Reason("stage", f"for businesses at stage {', '.join(p.business_stages)}"))
        m.score += 3
    else:
        blockers.append(Reason("stage", f"for businesses at stage {', '.join(p.business_stages)}"))


def _language(p, a, m, blockers, recent, ami):
    if a.language in p.languages:
        m.fits.append(Reason("language", f"serves people in {a.language}"))
        m.score += 2 if a.language != "en" else 1
    else:
        m.doubts.append(Reason("language_missing", f"services in {', '.join(p.languages)} only"))


def _topics(p, a, m, blockers, recent, ami):
    """What the resident said weighs most: a program whose own words name it fits best."""
    if not a.topics:
        return
    words = program_text(p.name, p.description)
    for key in a.topics:
        if program_mentions(key, words):
            m.fits.append(Reason("topic", f"speaks of {key}"))
            m.score += 5
