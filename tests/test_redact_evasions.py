"""Redaction holds against the usual ways around it (ASVS V8.3.x: personal data kept out of Rasa's tracker).

Each case was missed on main; `normalize` undoes it before the rules run, and only the spans that then
have a number's shape change, so everything `tests/test_redact.py` keeps is still kept.
"""

from __future__ import annotations

import re

import pytest

from bot.redact import PLACEHOLDERS, normalize, redact

PHONE, EMAIL, SSN, CARD = (PLACEHOLDERS[k] for k in ("phone", "email", "ssn", "card"))


@pytest.mark.parametrize("text, expected", [
    ("555_010_2000", PHONE),
    ("call 555/010/2000 after 5", f"call {PHONE} after 5"),
    ("555-O1O-2OOO", PHONE),
    ("my number is 555 O1O 2OOO", f"my number is {PHONE}"),
    ("5550l02000", PHONE),
    ("555 . 010 . 2000", PHONE),
    ("\uff15\uff15\uff15-\uff10\uff11\uff10-\uff12\uff10\uff10\uff10", PHONE),  # fullwidth digits
    ("card 4111.1111.1111.1111 exp 12/27", f"card {CARD} exp 12/27"),
    ("4111_1111_1111_1111", CARD),
    ("my ssn is 123_45_6789", f"my ssn is {SSN}"),
    ("123/45/6789", SSN),
    ("maria . lopez @ gmail . com", EMAIL),
    ("write to maria . lopez @ gmail . com please", f"write to {EMAIL} please"),
    ("MARIA.LOPEZ @ GMAIL.COM", EMAIL),
])
def test_evasions_are_redacted(text, expected):
    result = redact(text)
    assert result.text == expected
    assert not re.search(r"\d{3}", result.text.replace("12/27", "")), "no run of the number survives"


@pytest.mark.parametrize("text", [
    "12/27/2024", "1/15/2025", "01/02/1960", "from 9-5", "10:30", "$1,200/mo", "15.50 an hour",
    "47101-2034", "I need 2 jobs", "lol ok", "Room 101 Oak", "I make 1500 2000 a month", "i have 3 kids",
    "my zip is 47101", "2024-2025", "OOO", "l0l", "i owe $12,500", "100 / 200", "me @ work", "a . b",
])
def test_normalization_leaves_everything_else_alone(text):
    assert normalize(text) == text
    assert redact(text).text == text
