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
    assert render_plain([{"text": "En que le puedo ayudar?", "buttons": MENU_ES}], language="es") == [
        "En que le puedo ayudar?\nResponda con un numero:\n1) Capacitacion\n2) Mi negocio"]
    assert numbered_choices(MENU_ES, "es").startswith("Responda con un numero:\n")


def test_each_message_is_rendered_separately_and_empty_ones_dropped():
    assert render_plain([{"text": "  Hi.  "}, {"text": ""}, {"text": None}, {"buttons": MENU[:1]}]) == [
        "Hi.", "Reply with a number:\n1) A job"]


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


@pytest.mark.parametrize("text", ["0", "5", "12", "five", "hello", "a job please", "", "   "])
def test_out_of_range_or_unrelated_is_none(text):
    assert match_choice(text, MENU) is None


def test_spanish_title_typed_with_accent_and_other_case():
    assert match_choice("capacitación", MENU_ES) == "/job_training"
    assert match_choice("MI NEGOCIO", MENU_ES) == "/small_business"


def test_no_buttons_no_choice():
    assert match_choice("1", []) is None
