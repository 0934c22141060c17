"""Buttons as numbered plain-text choices (SMS, terminal), and typed replies mapped back to payloads."""

from __future__ import annotations

import pytest

from bot.render import match_choice, numbered_choices, render_plain

MENU = [
    {"title": "A job", "payload": "/employment"},
    {"title": "Training", "payload": "/job_training"},
    {"title": "Problems with pay", "payload": "/wages"},
    {"title": "Saving money", "payload": "/savings"},
]
MENU_ES = [
    {"title": "Capacitacion", "payload": "/job_training"},
    {"title": "Mi negocio", "payload": "/small_business"},
]


def test_buttons_become_numbered_lines():
    assert render_plain([{"text": "What can I help you with?", "buttons": MENU}]) == [
        "What can I help you with?\n"
        "Reply with a number:\n"
        "1) A job\n"
        "2) Training\n"
        "3) Problems with pay\n"
        "4) Saving money"
    ]


def test_spanish_lead():
    assert render_plain([{"text": "¿En qué le puedo ayudar?", "buttons": MENU}], language="es") == [
        "¿En qué le puedo ayudar?\nElija un número:\n1) A job\n2) Training\n3) Problems with pay\n"
        "4) Saving money"]
    assert numbered_choices(MENU, "es").startswith("Elija un número:\n")


def test_a_short_menu_fits_on_one_line():
    assert render_plain([{"text": "May we text you once later?", "buttons": [{"title": "Yes"}, {"title": "No"}]}]) == [
        "May we text you once later?\n1) Yes or 2) No"]
    assert render_plain([{"text": "¿Ya tiene un negocio?", "buttons": MENU_ES}], language="es") == [
        "¿Ya tiene un negocio?\n1) Capacitacion o 2) Mi negocio"]


def test_the_same_long_menu_is_not_sent_again_after_a_misunderstanding():
    first = render_plain([{"text": "What can I help you with?", "buttons": MENU}])
    again = render_plain([{"text": "Sorry, I didn't understand.", "buttons": MENU}], previous=MENU)
    assert "Training" in first[0] and "Training" not in again[0]
    assert again == ["Sorry, I didn't understand.\nReply with a number from 1 to 4, or tell me in words."]
    assert len(again[0]) < len(first[0]) - 20
    # A different menu, or the first time, is shown in full.
    assert "1) A job" in render_plain([{"text": "?", "buttons": MENU}], previous=MENU_ES)[0]


def test_choices_the_reply_already_listed_are_referred_to_not_repeated():
    programs = [{"text": "Here are programs that can help:"},
                {"text": "1. City Careers. (555) 010-2015, Mon-Fri 9am-5pm."},
                {"text": "2. Riverbend Works. (555) 010-2001."},
                {"text": "Want a caseworker from one of them to contact you? Pick one.",
                 "buttons": [{"title": "City Careers"}, {"title": "Riverbend Works"}, {"title": "No thanks"}]}]
    out = render_plain(programs)
    assert out[-1] == ("Want a caseworker from one of them to contact you? Pick one.\n"
                       "Reply 1 or 2, or 3) No thanks")
    assert sum(text.count("City Careers") for text in out) == 1
    es = render_plain(programs, language="es")
    assert es[-1].endswith("Responda 1 o 2, o 3) No thanks")


def test_each_message_is_rendered_separately_and_empty_ones_dropped():
    assert render_plain([{"text": "  Hi.  "}, {"text": ""}, {"text": None}, {"buttons": MENU[:1]}]) == [
        "Hi.", "1) A job"]


def test_message_without_buttons_is_unchanged():
    assert render_plain([{"text": "Let's start over.", "buttons": []}]) == ["Let's start over."]


@pytest.mark.parametrize("text, payload", [
    ("2", "/job_training"),
    (" 2 ", "/job_training"),
    ("2.", "/job_training"),
    ("two", "/job_training"),
    ("dos", "/job_training"),
    ("Dos", "/job_training"),
    ("#3", "/wages"),
    ("number 1", "/employment"),
    ("numero 4", "/savings"),
    ("cuatro", "/savings"),
    ("training", "/job_training"),
    ("TRAINING", "/job_training"),
    ("problems WITH pay", "/wages"),
    ("Saving money!", "/savings"),
])
def test_match_choice(text, payload):
    assert match_choice(text, MENU) == payload


@pytest.mark.parametrize("text, payload", [
    ("option 3", "/wages"), ("Option 3", "/wages"), ("opcion 2", "/job_training"), ("opción 2", "/job_training"),
    ("the last one", "/savings"), ("last", "/savings"), ("la última", "/savings"), ("el ultimo", "/savings"),
    ("la ultima opcion", "/savings"),
    ("the first one", "/employment"), ("number 4", "/savings"), ("#2", "/job_training"),
])
def test_option_words_and_positions(text, payload):
    assert match_choice(text, MENU) == payload


YES_NO = [{"title": "Yes, call me", "payload": "/human"}, {"title": "No, thanks", "payload": "/deny"}]
SI_NO = [{"title": "Sí, que me llamen", "payload": "/human"}, {"title": "No, gracias", "payload": "/deny"}]


@pytest.mark.parametrize("text, payload", [
    ("yes", "/human"), ("Yes!", "/human"), ("yes please", "/human"), ("ok", "/human"), ("no", "/deny"),
    ("no thanks", "/deny"), ("nope", "/deny"),
])
def test_yes_and_no_answer_a_yes_or_no_choice(text, payload):
    assert match_choice(text, YES_NO) == payload


@pytest.mark.parametrize("text, payload", [
    ("si", "/human"), ("sí", "/human"), ("Sí.", "/human"), ("SI", "/human"), ("si por favor", "/human"),
    ("claro", "/human"), ("no", "/deny"), ("no gracias", "/deny"),
])
def test_si_and_no_answer_a_spanish_yes_or_no_choice(text, payload):
    assert match_choice(text, SI_NO) == payload


def test_the_last_one_is_the_last_program_not_no_thanks():
    programs = [{"title": "City Careers", "payload": "1"}, {"title": "Riverbend Works", "payload": "2"},
                {"title": "English for Work", "payload": "3"}, {"title": "No thanks", "payload": "0"}]
    assert match_choice("the last one", programs) == "3"
    assert match_choice("4", programs) == "0"
    assert match_choice("the last one", YES_NO) == "/deny"


def test_yes_means_nothing_where_no_choice_starts_with_yes():
    assert match_choice("yes", MENU) is None
    assert match_choice("no", MENU) is None


@pytest.mark.parametrize("text", ["0", "5", "12", "five", "hello", "a job please", "", "   ", "option 9",
                                  "the last time", "yes"])
def test_out_of_range_or_unrelated_is_none(text):
    assert match_choice(text, MENU) is None


def test_spanish_title_typed_with_accent_and_other_case():
    assert match_choice("capacitación", MENU_ES) == "/job_training"
    assert match_choice("MI NEGOCIO", MENU_ES) == "/small_business"


def test_no_buttons_no_choice():
    assert match_choice("1", []) is None
