"""Segment counting and reply shaping for SMS (bot/sms.py), and every reply text held to its limits."""

from __future__ import annotations

import pytest

from bot.render import render_plain
from bot.sms import MAX_CHARS, TARGET_CHARS, cost, plain_gsm, segments, shape
from tests.test_sms_texts import action_texts, domain_responses, fill
from actions.messages import TEXTS


@pytest.mark.parametrize("text, encoding, units, count", [
    ("", "GSM-7", 0, 1),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("{" * 80, "GSM-7", 160, 1),  # extension characters cost two septets
    ("{" * 81, "GSM-7", 162, 2),
    ("Señor Muñoz, ¿qué tal? ñ ü é à", "GSM-7", 30, 1),
    ("a" * 69 + "\u2019", "UCS-2", 70, 1),  # one curly quote turns the whole message into UCS-2
    ("a" * 70 + "\u2019", "UCS-2", 71, 2),
    ("\u2019" + "a" * 133, "UCS-2", 134, 2),  # 67 per part once split
    ("a" * 134 + "á", "UCS-2", 135, 3),
    ("\U0001f600" * 35, "UCS-2", 70, 1),  # an emoji is two UTF-16 units
    ("\U0001f600" * 36, "UCS-2", 72, 2),
])
def test_segments_count_as_carriers_bill(text, encoding, units, count):
    info = segments(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, count)


def test_plain_gsm_folds_what_phones_garble():
    assert plain_gsm("It\u2019s \u201cfree\u201d \u2014 call\u2026 \U0001f44d") == "It's \"free\" - call... "
    assert segments(plain_gsm("caf\u00e9 \u00e1rbol \u2013 ok")).encoding == "GSM-7"


def test_shape_joins_short_texts_and_splits_long_ones():
    assert shape(["Hi.", "What do you need?"]) == ["Hi.\nWhat do you need?"]
    long = "\n".join(f"{i}) " + "word " * 12 for i in range(1, 12))
    parts = shape([long])
    assert len(parts) > 1 and all(len(p) <= TARGET_CHARS for p in parts)
    assert "\n".join(parts).split() == long.split(), "nothing lost, order kept"
    assert all(len(p) <= MAX_CHARS for p in shape(["x" * 5000]))
    assert "".join(shape(["x" * 5000])) == "x" * 5000


def test_shape_keeps_a_question_with_its_menu():
    menu = render_plain([{"text": "How old are you?", "buttons": [{"title": t} for t in
                          ("Under 18", "18 to 24", "25 to 54", "55 to 64", "65 or older", "Prefer not to say")]}])
    assert shape(menu) == menu


def _all_replies() -> list[tuple[str, str]]:
    out = []
    for _name, lang, v in domain_responses():
        out.append((lang, render_plain([{"text": fill(v.get("text") or ""), "buttons": v.get("buttons") or []}],
                                       language=lang)[0]))
    for key, lang, buttons in action_texts():
        out.append((lang, render_plain([{"text": fill(TEXTS[lang][key]), "buttons": buttons}], language=lang)[0]))
    return out


@pytest.mark.parametrize("lang, reply", _all_replies())
def test_every_reply_fits_two_gsm7_segments_after_shaping(lang, reply):
    for body in shape([reply], lang):
        info = segments(body)
        assert info.encoding == "GSM-7", body
        assert info.segments <= 3 and len(body) <= TARGET_CHARS, (str(info), body)


def test_spanish_keeps_gsm7_letters_and_writes_missing_accents_with_a_grave():
    text = "¿Cuántos años tiene? Sí, guardó su número. ¡Está en Peñalolén, Güemes! ÁÍÓÚ ç"
    folded = plain_gsm(text)
    # Inside a word the accent goes ("numero"); at a word's end the grave keeps the meaning ("sì", "guardò").
    assert folded == "¿Cuantos años tiene? Sì, guardò su numero. ¡Està en Peñalolén, Güemes! AIOU c"
    assert segments(folded).encoding == "GSM-7"
    # No word loses its accent mark: "sí" is not "si" (if), "guardó" is not "guardo" (I keep).
    assert "Si," not in folded and "guardo " not in folded


def test_shaping_aims_at_segment_boundaries_not_320_characters():
    words = ("palabra " * 60).strip()  # 479 characters
    bodies = shape([words], "es")
    assert all(segments(b).units <= 306 for b in bodies)
    assert cost(bodies) == 4 and " ".join(bodies).split() == words.split()
    assert cost(shape(["a" * 306])) == 2 and cost(shape(["a" * 307])) == 3
    # 320 characters were "two messages" before; they cost three, so they are sent as 2 + 1.
    assert [segments(b).segments for b in shape([("x" * 9 + " ") * 32])] == [2, 1]


def test_extension_characters_count_twice_when_shaping():
    text = "[" * 200  # 400 septets
    bodies = shape([text])
    assert all(segments(b).units <= 306 for b in bodies) and "".join(bodies) == text


def test_shaping_joins_texts_into_the_fewest_segments():
    texts = ["a" * 100, "b" * 40, "c" * 150]
    bodies = shape(texts)
    assert bodies == ["a" * 100 + "\n" + "b" * 40 + "\n" + "c" * 150] and cost(bodies) == 2
    assert cost(bodies) < sum(cost([t]) for t in texts)
