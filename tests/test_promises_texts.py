"""Issue 10, parts 3 and 4 without servers: Spanish that reads right, what a message is heard as, programs
ranked by what the resident said, one-line descriptions, the Spanish directory texts and their validation."""

from __future__ import annotations

import copy
import json
import re
from datetime import date

import pytest
import yaml

from actions.answers import choice_index, parse_zip
from actions.messages import CHOICES, TEXTS, by_when, from_org, program_line, serves_any_status, summary
from referrals.config import ROOT
from referrals.directory import DirectoryError, load_directory_file, parse_directory
from referrals.matching import Answers, Match, match_programs
from referrals.topics import hear

SAMPLE = ROOT / "referrals" / "data" / "sample_directory.json"


@pytest.fixture(scope="module")
def programs():
    return load_directory_file(SAMPLE)


def spanish_texts() -> list[str]:
    """Every Spanish text a resident can read: domain responses, action texts, button titles, directory."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    out = []
    for variations in domain["responses"].values():
        for v in variations:
            if any(c.get("value") == "es" for c in v.get("condition") or []):
                out.append(v["text"])
                out += [b["title"] for b in v.get("buttons") or []]
    out += list(TEXTS["es"].values())
    out += [es for choices in CHOICES.values() for _, _, es in choices]
    for service in json.loads(SAMPLE.read_text(encoding="utf-8"))["services"]:
        out += list(service.get("x_translations", {}).get("es", {}).values())
    return out


# Words that change meaning or read as errors without their accent ("Si" is "if", "ano" is not "year").
UNACCENTED = r"(?<!\w)(ano|anos|dias|codigo|numero|telefono|electronico|genero|etnico|Perdon|aqui|mas|Cual|Cuanto|" \
             r"Cuantos|Que|espanol|ingles|automatico|habiles|credito|Capacitacion|opcion|entendi|reconoci|" \
             r"encontre|Digame|Cuidese|Linea|domestica|guardo|limite|senor|Esta bien|Si,)(?!\w)"


@pytest.mark.parametrize("text", spanish_texts())
def test_spanish_keeps_its_accents_and_opening_marks(text):
    assert re.findall(UNACCENTED, text) == [], text
    assert not re.match(r"Si\b", text) or text.startswith("Si está"), "yes is Sí; only 'if' is Si"
    for sentence in re.findall(r"[^.!?]*\?", text):
        assert "¿" in sentence, f"a Spanish question opens with ¿: {sentence!r}"


def test_yes_is_si_with_its_accent_in_every_spanish_choice():
    titles = [es for choices in CHOICES.values() for _, _, es in choices]
    assert "Sí" in titles and "Si" not in titles
    assert "¿Cuántos años tiene?" == TEXTS["es"]["ask_age_band"]


# --- listening ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, needs, negated", [
    ("actually i need help with rent, not a job", ("basic_needs",), ("employment",)),
    ("en realidad necesito ayuda con la renta, no trabajo", ("basic_needs",), ("employment",)),
    ("i dont need a job i need food", ("basic_needs",), ("employment",)),
    ("my boss didnt pay me for 3 weeks and im behind on rent and i want to go back to school",
     ("wages", "basic_needs", "job_training"), ()),
    ("no me pagaron dos semanas, debo la renta y quiero volver a estudiar", ("wages", "basic_needs", "job_training"), ()),
    ("my landlord is evicting me", ("basic_needs",), ()),
    ("my parents are visiting", (), ()),  # "rent" inside another word is not rent
    ("is the city hiring bus drivers", ("city_jobs",), ()),
])
def test_every_need_a_message_names_is_heard_in_order_and_not_is_not(text, needs, negated):
    heard = hear(text)
    assert heard.needs == needs and heard.negated == negated


def test_immigration_status_is_heard_in_both_languages():
    assert "immigration" in hear("no tengo papeles").topics
    assert "immigration" in hear("im undocumented, can i still get help").topics
    assert "immigration" not in hear("i need a job").topics


def test_eviction_ranks_eviction_programs_first_not_child_care(programs):
    result = match_programs("basic_needs", Answers(zip_code="47102", language="en", topics=hear(
        "my landlord is evicting me").topics), programs)
    names = [p.name for p in result.programs]
    assert names[0] in ("Emergency Rental Assistance", "Eviction Defense Right to Counsel"), names
    assert "Child Care Subsidy" not in names


def test_equal_fits_keep_the_directorys_order(programs):
    result = match_programs("basic_needs", Answers(zip_code="47101", age_band="25_54"), programs)
    in_directory = [p.name for p in programs if p.name in {m.name for m in result.programs}]
    scores = [m.score for m in result.matches]
    assert scores == sorted(scores, reverse=True)
    if len(set(scores)) == 1:
        assert [p.name for p in result.programs] == in_directory


def test_each_program_line_has_a_one_line_description_in_the_residents_language(programs):
    rental = next(p for p in programs if p.name == "Emergency Rental Assistance")
    en = program_line(1, Match(rental), "en")
    es = program_line(1, Match(rental), "es")
    assert en.startswith("1. Emergency Rental Assistance: One-time help with past-due rent. (555) 010-2030")
    assert es.startswith("1. Ayuda de Emergencia para la Renta: Ayuda única con la renta atrasada. (555) 010-2030")
    assert "lun. a vie., de 9 a 5" in es and "Mon-Fri" not in es
    for p in programs:
        for lang in ("en", "es"):
            line = summary(p, lang)
            assert 20 <= len(line) <= 90 and not line.endswith((",", " de", " and", " y")), (p.name, line)


def test_a_program_that_serves_any_status_says_so_only_when_status_came_up(programs):
    claims = next(p for p in programs if p.name == "Wage Claims and Workers' Rights Enforcement")
    assert serves_any_status(claims)
    assert "immigration status" in program_line(1, Match(claims), "en", status_asked=True)
    assert "estatus migratorio" in program_line(1, Match(claims), "es", status_asked=True)
    assert "immigration" not in program_line(1, Match(claims), "en")
    childcare = next(p for p in programs if p.name == "Child Care Subsidy")
    assert not serves_any_status(childcare)
    assert "immigration" not in program_line(1, Match(childcare), "en", status_asked=True)


def test_a_program_without_a_written_summary_gets_its_first_clause(programs):
    bare = programs[0].__class__(**{**{f: getattr(programs[0], f) for f in (
        "id", "name", "organization", "description", "needs", "phone", "url", "address", "hours",
        "application_process", "languages")}})
    assert summary(bare, "en") == "Free job search help for any job seeker, including resume reviews, interview practice"
    assert summary(bare, "es") == summary(bare, "en"), "no Spanish text: the directory's own"


def test_spanish_says_del_and_de_la_before_an_organization():
    assert from_org("Departamento de Vivienda", "es") == "del Departamento de Vivienda"
    assert from_org("Oficina de Normas Laborales", "es") == "de la Oficina de Normas Laborales"
    assert from_org("United Way de Riverbend", "es") == "de United Way de Riverbend"
    assert from_org("Riverbend Food Bank", "en") == "Riverbend Food Bank"


def test_by_when_skips_the_weekend():
    assert by_when(date(2026, 12, 2), "en") == "Friday, Dec 4"  # a Wednesday
    assert by_when(date(2026, 12, 3), "es") == "lunes 7 de diciembre"  # a Thursday
    assert by_when(date(2026, 12, 5), "en") == "Tuesday, Dec 8"  # a Saturday


def test_zip_with_letter_o_and_last_one_are_understood():
    assert parse_zip("471O5", {"47105": "Las Palmas"}) == ("47105", "Las Palmas")
    assert parse_zip("4710o", {}) == ("47100", None)
    assert parse_zip("oops", {}) is None
    assert choice_index("the last one", 3) == 3 and choice_index("option 3", 3) == 3
    assert choice_index("el ultimo", 2) == 2


# --- the Spanish directory texts (x_translations), validated like the rest ---------------------------------

def test_spanish_texts_are_carried_where_given_and_fall_back_where_not(programs):
    center = programs[0]
    assert center.text("name", "es") == "Centro de Empleo de Riverbend"
    assert center.text("name", "en") == center.name
    assert center.text("organization", "es") == "Oficina de Desarrollo Laboral de la Ciudad de Riverbend"
    assert all(p.text("name", "es") and p.text("hours", "es") for p in programs)
    assert center.text("name", "fr") == center.name


@pytest.mark.parametrize("bad, expect", [
    ({"es": {"name": ""}}, "x_translations.es.name"),
    ({"es": {"nombre": "Centro"}}, "x_translations.es"),
    ({"spanish": {"name": "Centro"}}, "x_translations"),
    ({"es": {}}, "x_translations.es"),
    ({"es": {"hours": 9}}, "x_translations.es.hours"),
])
def test_a_bad_translation_is_rejected_naming_the_record_and_field(bad, expect):
    document = json.loads(SAMPLE.read_text(encoding="utf-8"))
    broken = copy.deepcopy(document)
    broken["services"][2]["x_translations"] = bad
    with pytest.raises(DirectoryError) as err:
        parse_directory(broken)
    problems = err.value.problems
    assert len(problems) == 1 and problems[0].startswith("services[2] (id=") and f"field {expect}" in problems[0], \
        problems
