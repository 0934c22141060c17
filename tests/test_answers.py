"""Typed answers to the form questions, in English and Spanish, turned into slot values."""

from __future__ import annotations

import pytest

from actions.answers import choice_index, parse_age_band, parse_business_stage, parse_income_band, parse_zip
from referrals.config import ROOT
from referrals.directory import load_neighborhoods

NEIGHBORHOODS = load_neighborhoods(ROOT / "referrals" / "data" / "neighborhoods.csv")


@pytest.mark.parametrize("text, expected", [
    ("47105", ("47105", "Las Palmas")),
    ("47105-1234", ("47105", "Las Palmas")),
    ("my zip is 47102", ("47102", "Eastside")),
    ("mi codigo es 47109.", ("47109", "Southport")),
    ("Las Palmas", ("47105", "Las Palmas")),
    ("vivo en las palmas", ("47105", "Las Palmas")),
    ("LAS PALMAS", ("47105", "Las Palmas")),
    ("Lás Pálmas", ("47105", "Las Palmas")),
    ("riverside flats", ("47106", "Riverside Flats")),
    ("near cedar hill", ("47108", "Cedar Hill")),
    ("Mill district", ("47103", "Mill District")),
])
def test_parse_zip_known(text, expected):
    assert parse_zip(text, NEIGHBORHOODS) == expected


def test_parse_zip_outside_the_city_keeps_the_zip_without_neighborhood():
    assert parse_zip("90210", NEIGHBORHOODS) == ("90210", None)
    assert parse_zip("i moved to 60601", NEIGHBORHOODS) == ("60601", None)


@pytest.mark.parametrize("text", ["somewhere", "no se", "4710", "cerca del rio", "", "palmas"])
def test_parse_zip_unknown(text):
    assert parse_zip(text, NEIGHBORHOODS) is None


@pytest.mark.parametrize("text, expected", [
    ("25_54", "25_54"),            # a button payload
    ("unknown", "unknown"),
    ("34", "25_54"),
    ("im 19", "18_24"),
    ("I am 18", "18_24"),
    ("24", "18_24"),
    ("tengo 52 anos", "25_54"),
    ("tengo 52 años", "25_54"),
    ("55 years old", "55_64"),
    ("tengo 64", "55_64"),
    ("70", "65_plus"),
    ("16", "under_18"),
    ("12", "under_18"),
    ("prefer not to say", "unknown"),
    ("prefiero no decir", "unknown"),
    ("rather not", "unknown"),
    ("9", None),
    ("150", None),
    ("old enough", None),
    ("", None),
])
def test_parse_age_band(text, expected):
    assert parse_age_band(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("under_35k", "under_35k"),
    ("30k", "under_35k"),
    ("30", "under_35k"),             # a bare small number means thousands a year
    ("20000", "under_35k"),
    ("$45,000", "35k_60k"),
    ("gano 40 mil", "35k_60k"),
    ("about 70 thousand", "60k_90k"),
    ("95000", "over_90k"),
    ("$100k", "over_90k"),
    ("prefiero no decir", "unknown"),
    ("no se", "unknown"),
    ("rather not say", "unknown"),
    ("nada", None),
    ("a lot", None),
])
def test_parse_income_band(text, expected):
    assert parse_income_band(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("idea", "idea"),
    ("no", "idea"),
    ("not yet", "idea"),
    ("just an idea", "idea"),
    ("no tengo negocio", "idea"),
    ("todavia no", "idea"),
    ("quiero abrir una panaderia", "idea"),
    ("new", "new"),
    ("just started last month", "new"),
    ("yes, 6 months", "new"),
    ("es nuevo", "new"),
    ("acabo de abrir", "new"),
    ("si, 8 meses", "new"),
    ("1 year", "new"),
    ("yes for 5 years", "established"),
    ("tengo un negocio hace 5 años", "established"),
    ("yes", "established"),
    ("Sí", "established"),
    ("ya tengo un negocio", "established"),
    ("maybe", None),
])
def test_parse_business_stage(text, expected):
    assert parse_business_stage(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("2", 2), (" 2 ", 2), ("#3", 3), ("el 1", 1),
    ("two", 2), ("dos", 2), ("uno", 1), ("TRES", 3),
    ("the second", 2), ("the second one", 2), ("the third one", 3), ("el segundo", 2), ("Primero", 1),
    ("0", 0), ("no thanks", 0), ("no gracias", 0), ("ninguno", 0), ("ahora no", 0),
    ("4", None), ("maybe", None), ("", None),
])
def test_choice_index_of_three(text, expected):
    assert choice_index(text, 3) == expected


def test_choice_index_beyond_the_count_is_unclear():
    assert choice_index("three", 2) is None
    assert choice_index("3", 2) is None
    assert choice_index("2", 2) == 2
