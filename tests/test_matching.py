"""Matching: which programs a resident is offered, in what order, and why the others were not."""

from __future__ import annotations

from referrals.directory import Program
from referrals.matching import Answers, match_programs, questions_for

KNOWN_EXCLUSION_CODES = {"inactive", "closed", "full", "outside_area", "age", "income", "stage", "ranked_lower"}


def program(pid: str, needs: tuple[str, ...] = ("employment",), languages: tuple[str, ...] = ("en",),
            **facts) -> Program:
    return Program(id=pid, name=facts.pop("name", pid), organization="Riverbend Org", description="",
                   needs=needs, phone=None, url=None, address=None, hours=None, application_process=None,
                   languages=languages, **facts)


def codes(reasons) -> list[str]:
    return [r.code for r in reasons]


def excluded(result) -> dict[str, list[str]]:
    return {p.id: codes(reasons) for p, reasons in result.excluded}


def only_match(result):
    assert len(result.matches) == 1, (result.matches, result.excluded)
    return result.matches[0]


# --- area ---------------------------------------------------------------------------------------

def test_citywide_program_serves_any_zip():
    result = match_programs("employment", Answers(zip_code="47109"), [program("citywide")])
    m = only_match(result)
    assert codes(m.fits) == ["citywide", "language"]
    assert m.doubts == []


def test_zip_limited_program_serves_its_zips_and_ranks_above_citywide():
    programs = [program("A citywide"), program("B eastside", zip_codes=("47102", "47106"))]
    result = match_programs("employment", Answers(zip_code="47106"), programs)
    assert [p.id for p in result.programs] == ["B eastside", "A citywide"]
    assert result.matches[0].fits[0].code == "serves_area"
    assert result.matches[0].fits[0].detail == "serves ZIP 47106"


def test_zip_limited_program_excludes_other_zips():
    result = match_programs("employment", Answers(zip_code="47101"),
                            [program("eastside", zip_codes=("47102", "47106"))])
    assert result.matches == []
    [(p, reasons)] = result.excluded
    assert p.id == "eastside"
    assert [(r.code, r.detail) for r in reasons] == [("outside_area", "serves only ZIP 47102, 47106")]


def test_unknown_zip_makes_a_zip_limited_program_possible_not_excluded():
    m = only_match(match_programs("employment", Answers(), [program("eastside", zip_codes=("47102",))]))
    assert codes(m.doubts) == ["area_unknown"]


# --- age ----------------------------------------------------------------------------------------

def test_age_band_inside_the_program_ages_fits():
    m = only_match(match_programs("employment", Answers(age_band="18_24"), [program("youth", min_age=16, max_age=24)]))
    assert ("age", "for ages 16-24") in [(r.code, r.detail) for r in m.fits]
    assert m.doubts == []


def test_age_band_partly_inside_is_a_doubt():
    # 14-17 against a 16-24 program: a 15-year-old would not qualify, a 17-year-old would
    m = only_match(match_programs("employment", Answers(age_band="under_18"),
                                  [program("youth", min_age=16, max_age=24)]))
    assert codes(m.doubts) == ["age_partly"]
    assert "age" not in codes(m.fits)


def test_age_band_outside_excludes():
    result = match_programs("employment", Answers(age_band="55_64"), [program("youth", min_age=16, max_age=24)])
    assert result.matches == []
    assert excluded(result) == {"youth": ["age"]}


def test_open_ended_age_limit():
    result = match_programs("employment", Answers(age_band="65_plus"), [program("adults", min_age=18)])
    assert "age" in codes(only_match(result).fits)
    result = match_programs("employment", Answers(age_band="under_18"), [program("adults", min_age=18)])
    assert excluded(result) == {"adults": ["age"]}


def test_age_not_given_is_a_doubt():
    m = only_match(match_programs("employment", Answers(), [program("adults", min_age=18)]))
    assert [(r.code, r.detail) for r in m.doubts] == [("age_unknown", "for ages 18-200")]


# --- income as % of area median income ----------------------------------------------------------

def test_income_band_below_the_limit_fits():
    m = only_match(match_programs("basic_needs", Answers(income_band="35k_60k"),
                                  [program("rent", needs=("basic_needs",), max_income_ami_pct=80)],
                                  area_median_income=100_000))
    assert ("income", "income limit about $80,000 a year") in [(r.code, r.detail) for r in m.fits]


def test_income_band_straddling_the_limit_is_possible():
    m = only_match(match_programs("basic_needs", Answers(income_band="60k_90k"),
                                  [program("rent", needs=("basic_needs",), max_income_ami_pct=80)],
                                  area_median_income=100_000))
    assert [(r.code, r.detail) for r in m.doubts] == [("income_partly", "income limit about $80,000 a year")]


def test_income_band_above_the_limit_excludes():
    result = match_programs("basic_needs", Answers(income_band="over_90k"),
                            [program("rent", needs=("basic_needs",), max_income_ami_pct=80)],
                            area_median_income=100_000)
    assert result.matches == []
    assert excluded(result) == {"rent": ["income"]}


def test_area_median_income_moves_the_limit():
    rent = program("rent", needs=("basic_needs",), max_income_ami_pct=50)
    answers = Answers(income_band="35k_60k")
    # 50% of 60,000 is 30,000: the whole band is above it
    assert excluded(match_programs("basic_needs", answers, [rent], area_median_income=60_000)) == {"rent": ["income"]}
    # 50% of 140,000 is 70,000: the whole band is below it
    m = only_match(match_programs("basic_needs", answers, [rent], area_median_income=140_000))
    assert ("income", "income limit about $70,000 a year") in [(r.code, r.detail) for r in m.fits]


def test_income_not_said_is_possible_not_excluded():
    m = only_match(match_programs("basic_needs", Answers(), [program("rent", needs=("basic_needs",),
                                                                     max_income_ami_pct=50)]))
    assert codes(m.doubts) == ["income_unknown"]


# --- business stage -----------------------------------------------------------------------------

def test_business_stage():
    loans = program("loans", needs=("small_business",), business_stages=("new", "established"))
    fit = only_match(match_programs("small_business", Answers(business_stage="new"), [loans]))
    assert "stage" in codes(fit.fits)
    idea = match_programs("small_business", Answers(business_stage="idea"), [loans])
    assert excluded(idea) == {"loans": ["stage"]}
    unknown = only_match(match_programs("small_business", Answers(), [loans]))
    assert codes(unknown.doubts) == ["stage_unknown"]


def test_confirmed_fit_ranks_above_a_possible_fit():
    programs = [program("A any stage", needs=("small_business",)),
                program("B established", needs=("small_business",), business_stages=("established",))]
    result = match_programs("small_business", Answers(business_stage="established"), programs)
    assert [p.id for p in result.programs] == ["B established", "A any stage"]


# --- language -----------------------------------------------------------------------------------

def test_spanish_speaker_sees_spanish_speaking_program_first():
    programs = [program("A english only"), program("B bilingual", languages=("en", "es"))]
    result = match_programs("employment", Answers(language="es"), programs)
    assert [p.id for p in result.programs] == ["B bilingual", "A english only"]
    assert codes(result.matches[1].doubts) == ["language_missing"]
    assert result.matches[1].doubts[0].detail == "services in en only"


def test_equal_fits_keep_the_directory_order_not_the_alphabet():
    programs = [program("B bilingual", languages=("en", "es")), program("A english only")]
    result = match_programs("employment", Answers(language="en"), programs)
    assert [p.id for p in result.programs] == ["B bilingual", "A english only"]


# --- availability -------------------------------------------------------------------------------

def test_program_not_accepting_referrals_is_excluded():
    result = match_programs("employment", Answers(), [program("closed", accepting_referrals=False)])
    assert excluded(result) == {"closed": ["closed"]}


def test_program_at_weekly_capacity_is_excluded():
    hub = program("hub", weekly_capacity=5)
    result = match_programs("employment", Answers(), [hub], recent_referrals={"hub": 5})
    [(p, reasons)] = result.excluded
    assert [(r.code, r.detail) for r in reasons] == [("full", "took 5 of 5 referrals this week")]
    assert only_match(match_programs("employment", Answers(), [hub], recent_referrals={"hub": 4})).program == hub
    assert only_match(match_programs("employment", Answers(), [hub], recent_referrals={"other": 9})).program == hub


def test_inactive_program_is_excluded():
    result = match_programs("employment", Answers(), [program("old", active=False)])
    assert excluded(result) == {"old": ["inactive"]}


def test_programs_for_other_needs_are_neither_matched_nor_excluded():
    result = match_programs("savings", Answers(), [program("jobs"), program("save", needs=("savings",))])
    assert [p.id for p in result.programs] == ["save"]
    assert result.excluded == []


def test_at_most_three_programs_and_the_rest_ranked_lower():
    programs = [program(f"P{i}") for i in range(5)]
    result = match_programs("employment", Answers(), programs)
    assert [p.id for p in result.programs] == ["P0", "P1", "P2"]
    assert excluded(result) == {"P3": ["ranked_lower"], "P4": ["ranked_lower"]}
    assert len(match_programs("employment", Answers(), programs, limit=4).matches) == 4


def test_every_excluded_program_carries_a_reason_code():
    programs = [
        program("inactive", active=False),
        program("closed", accepting_referrals=False),
        program("full", weekly_capacity=1),
        program("elsewhere", zip_codes=("47102",)),
        program("seniors", min_age=65),
        program("low income", max_income_ami_pct=30),
        program("established", business_stages=("established",)),
        program("fits 1"), program("fits 2"), program("fits 3"), program("fits 4"),
    ]
    answers = Answers(zip_code="47105", age_band="25_54", income_band="60k_90k", business_stage="idea")
    result = match_programs("employment", answers, programs, recent_referrals={"full": 1})
    assert [p.id for p in result.programs] == ["fits 1", "fits 2", "fits 3"]
    assert excluded(result) == {
        "inactive": ["inactive"], "closed": ["closed"], "full": ["full"], "elsewhere": ["outside_area"],
        "seniors": ["age"], "low income": ["income"], "established": ["stage"], "fits 4": ["ranked_lower"],
    }
    for p, reasons in result.excluded:
        assert reasons and all(r.code in KNOWN_EXCLUSION_CODES and r.detail for r in reasons), p.id


# --- questions ----------------------------------------------------------------------------------

def test_questions_only_for_what_candidate_programs_use():
    programs = [
        program("job", min_age=18),
        program("biz", needs=("small_business",), business_stages=("new",)),
        program("rent", needs=("basic_needs",), max_income_ami_pct=50),
    ]
    assert questions_for("employment", programs) == ["zip_code", "age_band"]
    assert questions_for("small_business", programs) == ["zip_code", "business_stage"]
    assert questions_for("basic_needs", programs) == ["zip_code", "income_band"]
    assert questions_for("savings", programs) == ["zip_code"]


def test_no_question_for_a_program_that_cannot_be_offered():
    programs = [
        program("job"),
        program("old youth program", min_age=16, max_age=24, active=False),
        program("closed income-limited program", max_income_ami_pct=60, accepting_referrals=False),
    ]
    assert questions_for("employment", programs) == ["zip_code"]
