"""Personal details come out of a message before Rasa sees it; what the dialogue needs stays in."""

from __future__ import annotations

import re

import pytest

from bot.redact import PLACEHOLDERS, Redaction, aba_ok, luhn_ok, redact
from referrals.language import LanguageDetector, fold

PHONE, EMAIL, SSN = PLACEHOLDERS["phone"], PLACEHOLDERS["email"], PLACEHOLDERS["ssn"]
CARD, BANK, ADDRESS, NUMBER = PLACEHOLDERS["card"], PLACEHOLDERS["bank"], PLACEHOLDERS["address"], PLACEHOLDERS["number"]

REDACTED = [
    # phones, US formats
    ("call me at (555) 123-4567", f"call me at {PHONE}"),
    ("my number is 555-123-4567 and i need a job", f"my number is {PHONE} and i need a job"),
    ("555.123.4567", PHONE),
    ("5551234567", PHONE),
    ("+1 555 123 4567", PHONE),
    ("+15551234567", PHONE),
    ("1-555-123-4567", PHONE),
    ("1 (555) 123-4567 after 3pm", f"{PHONE} after 3pm"),
    ("(555)123-4567", PHONE),
    ("( 555 ) 123 4567", PHONE),
    ("5 5 5 1 2 3 4 5 6 7", PHONE),
    ("text me 555 1234", f"text me {PHONE}"),
    ("its 555-1234", f"its {PHONE}"),
    ("cell: 5551234 pls call", f"cell: {PHONE} pls call"),
    ("home 555-123-4567 or cell 555.987.6543", f"home {PHONE} or cell {PHONE}"),
    ("mi numero es 555 123 4567", f"mi numero es {PHONE}"),
    ("llamame al 5551234567 despues de las 5", f"llamame al {PHONE} despues de las 5"),
    ("mi cel es (555)123-4567", f"mi cel es {PHONE}"),
    ("mi tel\u00e9fono es 555-1234", f"mi tel\u00e9fono es {PHONE}"),
    ("mi numero de mexico +52 1 55 1234 5678", f"mi numero de mexico {PHONE}"),
    ("tel:5551234567", f"tel:{PHONE}"),
    ("call/text 555-123-4567.", f"call/text {PHONE}."),
    ("555 - 123 - 4567", PHONE),
    ("my phone # is 555 123 4567!", f"my phone # is {PHONE}!"),
    ("mi whats es 5551234567 marcame", f"mi whats es {PHONE} marcame"),
    # emails
    ("email me at maria.g+jobs@gmail.com thanks", f"email me at {EMAIL} thanks"),
    ("JOHN_DOE99@Yahoo.COM", EMAIL),
    ("its john at gmail dot com", f"its {EMAIL}"),
    ("mi correo es juan arroba hotmail punto com", f"mi correo es {EMAIL}"),
    ("mi correo: ana_lopez@outlook.es", f"mi correo: {EMAIL}"),
    # social security numbers
    ("my ssn is 123-45-6789", f"my ssn is {SSN}"),
    ("ssn 123456789", f"ssn {SSN}"),
    ("SSN: 123 45 6789", f"SSN: {SSN}"),
    ("social security number 123.45.6789", f"social security number {SSN}"),
    ("my social is 123456789 do u need it", f"my social is {SSN} do u need it"),
    ("123-45-6789", SSN),
    ("last 4 of my ssn is 6789", f"last 4 of my ssn is {SSN}"),
    ("mi seguro social es 123-45-6789", f"mi seguro social es {SSN}"),
    ("numero de seguro social 123456789", f"numero de seguro social {SSN}"),
    ("ultimos 4 digitos de mi seguro social 6789", f"ultimos 4 digitos de mi seguro social {SSN}"),
    ("my itin is 912-70-1234", f"my itin is {SSN}"),
    # payment cards (Luhn-valid)
    ("card 4111 1111 1111 1111 exp 12/27", f"card {CARD} exp 12/27"),
    ("4111-1111-1111-1111", CARD),
    ("4111111111111111", CARD),
    ("amex 3782 822463 10005", f"amex {CARD}"),
    ("5500 0000 0000 0004 is my card", f"{CARD} is my card"),
    ("mi tarjeta es 4012888888881881", f"mi tarjeta es {CARD}"),
    ("6011 0009 9013 9424", CARD),
    # bank accounts and routing numbers
    ("account number 12345678", f"account number {BANK}"),
    ("my checking acct # 000123456789", f"my checking acct # {BANK}"),
    ("routing 021000021 account 1234567890", f"routing {BANK} account {BANK}"),
    ("routing number is 011000015", f"routing number is {BANK}"),
    ("021000021", BANK),
    ("mi cuenta es 123456789012", f"mi cuenta es {BANK}"),
    ("numero de cuenta 0001-2345-6789", f"numero de cuenta {BANK}"),
    ("numero de ruta 021000021", f"numero de ruta {BANK}"),
    ("clabe 002010077777777771", f"clabe {BANK}"),
    # other long digit runs: never needed, never kept
    ("4111111111111112", NUMBER),
    ("case 123456789012", f"case {NUMBER}"),
    ("123456789", SSN),  # a bare 9-digit number that is no routing number
    # street addresses
    ("i live at 123 Main St apt 4B and cant pay rent", f"i live at {ADDRESS} and cant pay rent"),
    ("1420 N Oak Ave", ADDRESS),
    ("123 W 5th St, Riverbend 47101", f"{ADDRESS}, Riverbend 47101"),
    ("4500 S Martin Luther King Jr Blvd #12", ADDRESS),
    ("9 elm ct", ADDRESS),
    ("77 Riverside Drive Unit 3", ADDRESS),
    ("moving from 2210 old mill rd next week", f"moving from {ADDRESS} next week"),
    ("800 Lakeview Pkwy Suite 200", ADDRESS),
    ("my address is 45 oak", f"my address is {ADDRESS}"),
    ("im 25 and live at 45 oak", f"im 25 and live at {ADDRESS}"),
    ("po box 123", ADDRESS),
    ("P.O. Box 4410 riverbend", f"{ADDRESS} riverbend"),
    ("vivo en la calle Juarez 123", f"vivo en la {ADDRESS}"),
    ("vivo en la calle 5 de mayo 123 int 4", f"vivo en la {ADDRESS}"),
    ("avenida Central 450 apto 3, 47102", f"{ADDRESS}, 47102"),
    ("1420 calle Oak", ADDRESS),
    ("mi direccion es 77 Elm St", f"mi direccion es {ADDRESS}"),
    ("mi direcci\u00f3n es 310 camino real", f"mi direcci\u00f3n es {ADDRESS}"),
    ("calle Morelos #45 col centro", f"{ADDRESS} col centro"),
    ("av. Reforma 222", ADDRESS),
    ("123 Main St.", f"{ADDRESS}"),
    ("the 2 of us live at 55 5th ave", f"the 2 of us live at {ADDRESS}"),
]

KEPT = [
    # what the questions ask for
    "47101", "my zip is 47101", "47101-2034", "zip 47101 age 34 income 25k", "vivo en 47101",
    "im 34", "i am 23 years old", "tengo 67 a\u00f1os", "55 years old", "me and my 3 kids",
    "$25,000", "25k", "2500 a month", "$1,200/mo", "i make 45000 a year", "gano 2500 al mes",
    "gano $1,500 a la semana", "i owe $12,500 on my card", "about 1,200,000 in sales", "$1.200.000 pesos",
    "i make 1500 2000 a month", "15.50 an hour", "2024", "born in 1985", "2024-2025", "from 2019 to 2024",
    "1", "2", "9", "10", "3pm", "10:30", "at 10:30 am", "from 9-5", "between 9 and 5", "3:30-4:30",
    "01/02/1960", "12/27", "1/15/2025",
    # ordinary sentences with numbers and street-ish words
    "i work 40 hours a week", "i have 3 kids in the way", "i found 1 other way", "there are 2 ways to apply",
    "i have 2 small claims court dates", "i got 2 tickets on main street", "at 3 i see dr smith",
    "i need $1,200 for rent by the 1st", "apt rent is 1200", "room for 2", "10-15 hours", "call 311",
    "call 911", "my credit score is 580", "i worked 10 years at the main street bakery", "main street",
    "1 on 1 coaching", "my case number is 12345", "my account is overdrawn by 300", "savings account 25000",
    "tengo 3 hijos y vivo en la calle", "vivo en la calle hace 2 a\u00f1os", "vivo en la calle 2 semanas",
    "trabajo de 9 a 5", "pago 1200 de renta", "naci en 1985", "i work at comcast", "im at walmart",
    "text me the info", "email me the info", "ssn card replacement", "my social worker said to text",
    "how do i open a bank account", "routing number where do i find it", "i lost my ssn card",
    "mi cuenta de ahorros", "el numero 1", "numero 2",
    "tengo 2 trabajos", "trabajo en la calle main", "llamame a las 5", "llame al 311", "opcion 2",
    "mi numero de caso es 12345", "15 minutes away", "i live on main st", "im 19 north side",
    "i make 1200 a week and have 2 kids", "my dr said i cant lift more than 20 lbs", "we are 4 in the household",
]


@pytest.mark.parametrize("text, expected", REDACTED)
def test_personal_details_are_replaced_by_placeholders(text, expected):
    assert redact(text).text == expected


@pytest.mark.parametrize("text", KEPT)
def test_what_the_dialogue_needs_is_kept(text):
    r = redact(text)
    assert (r.text, r.counts) == (text, {})


def test_counts_say_how_many_of_each_kind():
    r = redact("call 555-123-4567 or 555.987.6543, email a@b.co, ssn 123-45-6789, 77 Elm St")
    assert r.counts == {"phone": 2, "email": 1, "ssn": 1, "address": 1}
    assert r.total == 5
    assert redact("hi") == Redaction("hi", {})


@pytest.mark.parametrize("text", ["", None])
def test_empty_input(text):
    assert redact(text) == Redaction("", {})


def test_no_digit_of_a_redacted_number_survives():
    texts = [t for t, _ in REDACTED]
    for text in texts:
        out = redact(text).text
        for run in re.findall(r"\d(?:[ .()-]*\d){6,}", text):
            assert re.sub(r"\D", "", run) not in re.sub(r"\D", "", out), (text, out)


def test_placeholders_are_single_tokens_that_no_rule_touches_again():
    for placeholder in PLACEHOLDERS.values():
        assert re.fullmatch(r"\[[a-z]+_[a-z]+\]", placeholder)
        assert redact(placeholder) == Redaction(placeholder, {})
    everything = " ".join(t for t, _ in REDACTED)
    once = redact(everything).text
    assert redact(once).text == once


def test_placeholders_do_not_sway_the_language_detector():
    # A Spanish message stays Spanish when an English-looking placeholder stands in for a number.
    detector = LanguageDetector({"en": ["my phone number is", "i need a job"], "es": ["mi numero es", "necesito trabajo"]})
    text = redact("mi numero es 555-123-4567 necesito trabajo").text
    assert PHONE in text
    assert detector.scores(text) == detector.scores("mi numero es necesito trabajo")


def test_long_and_hostile_input_is_redacted_fully():
    text = ("call 555-123-4567 " * 100) + ("9" * 2000) + (" a" * 2000)
    r = redact(text)
    assert r.counts["phone"] == 100 and "999999" not in r.text


@pytest.mark.parametrize("digits, ok", [("4111111111111111", True), ("4111111111111112", False),
                                        ("378282246310005", True), ("0", True)])
def test_luhn(digits, ok):
    assert luhn_ok(digits) is ok


@pytest.mark.parametrize("digits, ok", [("021000021", True), ("011000015", True), ("123456789", False),
                                        ("021000022", False), ("991000021", False), ("02100002", False)])
def test_aba_routing_check(digits, ok):
    assert aba_ok(digits) is ok


def test_folded_text_redacts_the_same():
    # The gateway may redact before or after folding accents; the result must not depend on it.
    text = "mi direcci\u00f3n es 77 Elm St y mi tel\u00e9fono 555-1234"
    assert redact(fold(text)).counts == redact(text).counts == {"address": 1, "phone": 1}


def test_the_nlu_is_trained_on_every_placeholder_in_both_languages():
    from referrals.config import ROOT
    for language in ("en", "es"):
        text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "data" / "nlu" / language).glob("*.yml"))
        used = set(re.findall(r"\[[a-z_]+\](?!\()", text))
        assert used == set(PLACEHOLDERS.values()), language
