"""SMS keywords: the whole message must be the keyword, and every reply fits a basic phone."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from bot.keywords import (
    KEYWORD_TEXTS, PERSON_PHONE, KeywordHit, keyword_text, match_keyword, my_data_text,
)
from bot.safety import is_crisis
from bot.sms import GSM7_BASIC, cost, segments, shape
from referrals.config import ROOT

CITY = "City of Riverbend"
LONG_CITY = "Consolidated City and County of Riverbend"  # 41 characters: a real city's long name


@pytest.mark.parametrize("text, kind, language", [
    ("STOP", "stop", "en"), ("stop", "stop", "en"), ("  Stop  ", "stop", "en"), ("Stop.", "stop", "en"),
    ("STOP!!!", "stop", "en"), ('"stop"', "stop", "en"), ("STOPALL", "stop", "en"), ("stop all", "stop", "en"),
    ("unsubscribe", "stop", "en"), ("Cancel", "stop", "en"), ("END", "stop", "en"), ("quit", "stop", "en"),
    ("REVOKE", "stop", "en"), ("optout", "stop", "en"), ("OPT OUT", "stop", "en"), ("opt-out", "stop", "en"),
    ("stop please", "stop", "en"), ("please stop", "stop", "en"), ("stop texting me", "stop", "en"),
    ("PARAR", "stop", "es"), ("alto", "stop", "es"), ("\u00a1ALTO!", "stop", "es"), ("NO MAS", "stop_ask", "es"),
    ("no m\u00e1s", "stop_ask", "es"), ("NO M\u00c1S", "stop_ask", "es"), ("cancelar", "stop", "es"),
    ("Detener", "stop", "es"), ("BAJA", "stop", "es"), ("baja por favor", "stop", "es"),
    ("no mas mensajes", "stop", "es"),
    ("START", "start", "en"), ("start", "start", "en"), ("Unstop", "start", "en"), ("COMENZAR", "start", "es"),
    ("HELP", "help", "en"), ("help?", "help", "en"), ("INFO", "help", "en"), ("AYUDA", "help", "es"),
    ("informaci\u00f3n", "help", "es"),
    ("MY DATA", "mydata", "en"), ("mydata", "mydata", "en"), ("my-data", "mydata", "en"),
    ("MIS DATOS", "mydata", "es"),
    ("DELETE", "delete", "en"), ("delete my data", "delete", "en"), ("BORRAR", "delete", "es"),
    ("ELIMINAR", "delete", "es"), ("borrar mis datos", "delete", "es"),
    ("STATUS", "status", "en"), ("ESTADO", "status", "es"),
])
def test_keywords_are_recognized_in_any_case_and_with_punctuation(text, kind, language):
    hit = match_keyword(text)
    assert hit == KeywordHit(kind, language)
    assert hit.applies(opted_out=False) and hit.applies(opted_out=True)


@pytest.mark.parametrize("text, language", [("YES", "en"), ("yes", "en"), ("Yes!", "en"), ("SI", "es"),
                                            ("s\u00ed", "es"), ("S\u00cd.", "es")])
def test_yes_opts_in_only_while_the_number_is_opted_out(text, language):
    hit = match_keyword(text)
    assert hit == KeywordHit("start", language, only_if_opted_out=True)
    assert hit.applies(opted_out=True)
    # In a live conversation "yes" answers the question asked; it must reach the dialogue.
    assert not hit.applies(opted_out=False)


@pytest.mark.parametrize("text", [
    "", "   ", "?", "1", "ok", "no", "hi",
    "how do i stop spending so much", "stop the bot give me a human", "i need help finding a job",
    "help me write a resume", "can you delete that", "what is the status of my referral", "start over",
    "start a business", "borrar todo", "necesito ayuda con la renta", "estado de mi caso", "no mas deudas",
    "my data plan ran out", "end of the month rent", "cancel my appointment", "quiero dejar de gastar",
    "stop stop", "stopp", "halt", "STOP" * 20,
])
def test_sentences_and_other_words_are_not_keywords(text):
    assert match_keyword(text) is None


def test_no_keyword_is_taken_for_a_crisis():
    # The gateway checks crisis words and keywords on the same text; they must never compete.
    from bot.keywords import _KEYWORDS
    assert [k for k in _KEYWORDS if is_crisis(k)] == []


def fits_sms(text: str, language: str) -> list[str]:
    """Problems of `text` once shaped for SMS as the gateway sends it: one body, GSM-7, two segments."""
    problems = []
    bodies = shape([text], language)
    if len(bodies) != 1:
        problems.append(f"{len(bodies)} messages")
    for body in bodies:
        bad = sorted({c for c in body if c not in GSM7_BASIC})
        if bad:
            problems.append(f"characters outside GSM-7 basic: {bad}")
        seg = segments(body)
        if seg.encoding != "GSM-7" or seg.segments > 2:
            problems.append(str(seg))
    return problems


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("kind", ["stop", "stop_ask", "start", "start_already", "start_hotline", "help", "delete"])
def test_replies_fit_a_basic_phone(kind, language):
    for city in (CITY, LONG_CITY):
        for channel in ("sms", "web"):
            text = keyword_text(kind, language, city, channel=channel)
            assert fits_sms(text, language) == [], text
            assert kind == "stop_ask" or city in text
    if kind in ("start_already", "stop_ask", "delete"):
        # One SMS with the default city name.
        assert cost(shape([keyword_text(kind, language, CITY)], language)) == 1


@pytest.mark.parametrize("language, opt_in_word", [("en", "START"), ("es", "START")])
def test_opt_out_confirmation_says_how_to_opt_back_in(language, opt_in_word):
    text = keyword_text("stop", language, CITY)
    assert opt_in_word in text
    assert match_keyword(opt_in_word).kind == "start"


@pytest.mark.parametrize("language, rates", [("en", "Msg & data rates may apply"),
                                             ("es", "Pueden aplicar tarifas de mensajes y datos")])
def test_help_names_the_program_a_person_and_how_to_opt_out(language, rates):
    text = keyword_text("help", language, CITY)
    assert CITY in text
    assert PERSON_PHONE in text
    assert rates in text
    stop_word = "STOP" if language == "en" else "BAJA"
    assert stop_word in text and match_keyword(stop_word).kind == "stop"


def test_help_gives_the_same_person_as_the_assistant_does():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert all(PERSON_PHONE in v["text"] for v in domain["responses"]["utter_human"])


def test_both_languages_have_the_same_texts():
    assert KEYWORD_TEXTS["en"].keys() == KEYWORD_TEXTS["es"].keys()


def test_my_data_with_nothing_held_says_so():
    assert my_data_text("en", CITY, contact_on_file=False) == \
        "City of Riverbend holds nothing tied to your number. Reply HELP for help."
    assert "no tiene nada" in my_data_text("es", CITY, contact_on_file=False)


def test_my_data_lists_referrals_and_dated_consents():
    text = my_data_text("en", CITY, contact_on_file=True, referrals=["Riverbend Works (new)"],
                        consents=[("referral", date(2026, 11, 2)), ("analytics", date(2026, 11, 3))])
    assert text == ("City of Riverbend holds: your number, encrypted; referrals: Riverbend Works (new); "
                    "you agreed to be contacted (2026-11-02), anonymous reports (2026-11-03). "
                    "Reply DELETE to erase it.")
    assert fits_sms(text, "en") == []


def test_my_data_in_spanish():
    text = my_data_text("es", CITY, contact_on_file=False, referrals=["Ahorro Juntos (espera a un trabajador)"],
                        consents=[("followup", date(2026, 1, 5))])
    assert text == ("City of Riverbend tiene: no su número; referidos: Ahorro Juntos (espera a un trabajador); "
                    "usted aceptó seguimiento (2026-01-05). Responda BORRAR para eliminarlo.")


@pytest.mark.parametrize("language", ["en", "es"])
def test_my_data_with_many_referrals_stays_within_two_messages(language):
    programs = [f"Riverbend Program Number {i} for Residents (new)" for i in range(1, 12)]
    consents = [(s, date(2026, 1, 1)) for s in ("referral", "followup", "analytics")]
    text = my_data_text(language, LONG_CITY, contact_on_file=True, referrals=programs, consents=consents)
    assert fits_sms(text, language) == [], text
    assert programs[0] in text
    more = "more" if language == "en" else "más"
    assert f" {more}" in text  # the rest is counted, not dropped silently
