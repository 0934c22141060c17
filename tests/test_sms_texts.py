"""Every text the assistant sends fits SMS once shaped for it (bot/sms.py): GSM-7 basic characters only,
at most two segments (306 septets). Texts are written with their accents; shaping folds what GSM-7 lacks."""

from __future__ import annotations

import dataclasses
import string

import pytest
import yaml

from actions.messages import TEXTS, choice_buttons, program_line
from bot.render import render_plain
from bot.sms import cost, plain_gsm, shape
from referrals.config import ROOT
from referrals.directory import Program, load_directory_file
from referrals.matching import Match, Reason

MAX_CHARS = 306  # two GSM-7 segments

# GSM 03.38 basic character set (each counts as one character; the escape 0x1B is left out on purpose,
# so extension characters such as { } [ ] ~ | \ ^ and the euro sign, which cost two, are refused too).
GSM7_BASIC = set(
    "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5"
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\u00c6\u00e6\u00df\u00c9"
    " !\"#\u00a4%&'()*+,-./0123456789:;<=>?"
    "\u00a1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7"
    "\u00bfabcdefghijklmnopqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0"
)

LONG_NAME = "Riverbend Eastside Community Small Business Loan Fund Program"[:60]
LONG_ORG = "Riverbend Neighborhood Economic Development Corporation Inc."[:60]
FILL = {
    "program": LONG_NAME,
    "organization": LONG_ORG,
    "reference": "3F9A1C2B",
    "what": "age limit, area served, business stage, income limit",
    "how": "le llamará o le escribirá al número que nos dio",
    "when": "miércoles 30 de diciembre",
    "names": "Cedar Hill, Downtown, Eastside, Las Palmas, Lincoln Park, Mill District, Northgate, Riverside Flats, "
             "Southport, Westwood",
    "reach": "(555) 010-2001 ext. 1234, Mon-Fri 9am-5pm, Sat 10am-2pm",
    "others": "debt, credit or taxes, training or school",
}


def not_gsm7(text: str) -> list[str]:
    return sorted({c for c in text if c not in GSM7_BASIC})


def fill(text: str) -> str:
    fields = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    return text.format(**{name: FILL[name] for name in fields})


def domain_responses() -> list[tuple[str, str, dict]]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    out = []
    for name, variations in domain["responses"].items():
        for v in variations:
            is_es = any(c.get("name") == "language" and c.get("value") == "es" for c in v.get("condition") or [])
            out.append((name, "es" if is_es else "en", v))
    return out


def action_texts() -> list[tuple[str, str, list[dict]]]:
    out = []
    for lang, texts in TEXTS.items():
        for key in texts:
            if key.startswith("ask_"):
                buttons = choice_buttons(key.removeprefix("ask_"), lang)
            elif key == "ask":  # the referral question: up to 3 program names and "no thanks"
                buttons = [{"title": f"{LONG_NAME[:-1]}{i}", "payload": f"/inform{{\"choice\":\"{i}\"}}"}
                           for i in (1, 2, 3)]
                buttons.append({"title": TEXTS[lang]["no_thanks"], "payload": '/inform{"choice":"0"}'})
            else:
                buttons = []
            out.append((key, lang, buttons))
    return out


def check(rendered: list[str], lang: str = "en") -> None:
    assert rendered, "nothing rendered"
    for text in rendered:
        bodies = shape([text], lang)
        for sms in bodies:
            assert not_gsm7(sms) == [], sms
            assert len(sms) <= MAX_CHARS, f"{len(sms)} characters:\n{sms}"
        assert cost(bodies) <= 2, f"{cost(bodies)} segments:\n{bodies}"


def test_long_fill_values_are_realistic():
    assert len(LONG_NAME) == 60 and len(LONG_ORG) == 60
    assert all(not_gsm7(plain_gsm(v)) == [] for v in FILL.values())


def test_gsm7_check_refuses_what_phones_garble():
    for bad in ["\u2019", "\u201c", "\u00e1", "\u00ed", "\u00f3", "\u00fa", "\U0001f600", "{", "\u20ac", "\u2014"]:
        assert not_gsm7(f"ok {bad}") == [bad]
    assert not_gsm7("Hola, ¿qué tal? Está el Señor Muñoz, 50% @ $5 (sí)") == ["á", "í"]


def test_both_languages_in_every_domain_response():
    by_name: dict[str, set[str]] = {}
    for name, lang, _ in domain_responses():
        by_name.setdefault(name, set()).add(lang)
    assert {n: langs for n, langs in by_name.items() if langs != {"en", "es"}} == {}
    assert {lang for lang in TEXTS} == {"en", "es"} and set(TEXTS["en"]) == set(TEXTS["es"])


@pytest.mark.parametrize("name, lang, variation", domain_responses(),
                         ids=[f"{n}-{lang}" for n, lang, _ in domain_responses()])
def test_domain_response_fits_sms(name, lang, variation):
    message = {"text": fill(variation.get("text") or ""), "buttons": variation.get("buttons") or []}
    check(render_plain([message], language=lang), lang)


@pytest.mark.parametrize("key, lang, buttons", action_texts(), ids=[f"{k}-{lang}" for k, lang, _ in action_texts()])
def test_action_text_fits_sms(key, lang, buttons):
    messages = [{"text": fill(TEXTS[lang][key]), "buttons": buttons}]
    if key == "ask":
        # The referral question always follows the list of the programs it offers (action_show_programs),
        # so on SMS their names are referred to, not repeated; re-asked, the menu is the one shown before.
        listed = [{"text": f"{i}. {b['title']}. (555) 010-2001."} for i, b in enumerate(buttons[:-1], start=1)]
        rendered = render_plain(listed + messages, language=lang)[-1:]
        assert LONG_NAME[:-1] not in rendered[0]
        check(rendered, lang)
        check(render_plain(messages, language=lang, previous=buttons), lang)
        return
    check(render_plain(messages, language=lang), lang)


WORST_DOUBTS = [Reason(code, "") for code in ("age_partly", "income_unknown", "stage_unknown", "area_unknown")]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_program_lines_fit_sms(lang):
    programs = list(load_directory_file(ROOT / "referrals" / "data" / "sample_directory.json"))
    programs.append(Program(
        id="long", name=LONG_NAME, organization=LONG_ORG, description="", needs=("small_business",),
        phone="(555) 010-2001 ext. 1234", url=None, address="1800 Harbor Road Suite 400, Riverbend, 47109",
        hours="Mon-Fri 9am-5pm, Sat 10am-2pm", application_process=None, languages=("en",)))
    programs.append(dataclasses.replace(programs[-1], id="long-stale", call_first=True))  # assured long ago
    for p in programs:
        check([program_line(3, Match(p, doubts=WORST_DOUBTS), lang)], lang)
