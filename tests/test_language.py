"""English/Spanish detection of residents' short texts, and explicit language switches."""

from __future__ import annotations

import csv

import pytest

from referrals.config import ROOT
from referrals.language import LanguageDetector, explicit_switch, fold

# Written for this test; none of them is in data/nlu or tests/data (checked below).
ENGLISH = [
    "can you help me find a job",
    "my landlord wants me out",
    "i lost my job last week",
    "where do i get free tax help",
    "i need money for my rent",
    "how do i save for a car",
    "my paycheck was short again",
    "i want to open a bakery",
    "looking for welding classes",
    "does the city hire drivers",
]
SPANISH = [
    "necesito ayuda con la renta",
    "busco empleo cerca de mi casa",
    "quiero abrir una tienda",
    "mi jefe no me pago",
    "donde puedo aprender ingles",
    "no tengo dinero para comida",
    "quiero ahorrar para mis hijos",
    "como consigo trabajo en la ciudad",
    "me despidieron ayer",
    "necesito un prestamo para mi negocio",
]


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector.from_nlu_dir(ROOT / "data" / "nlu")


def test_test_texts_are_not_training_or_test_data():
    known = set()
    for path in (ROOT / "data" / "nlu").glob("*/*.yml"):
        known.update(line.strip()[2:].strip().lower() for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip().startswith("- "))
    for path in (ROOT / "tests" / "data").glob("*.tsv"):
        with open(path, newline="", encoding="utf-8") as fh:
            known.update(row[0].strip().lower() for row in csv.reader(fh, delimiter="\t"))
    assert [t for t in ENGLISH + SPANISH if t.lower() in known] == []


@pytest.mark.parametrize("text", ENGLISH)
def test_detects_english(detector, text):
    assert detector.detect(text) == "en"


@pytest.mark.parametrize("text", SPANISH)
def test_detects_spanish(detector, text):
    assert detector.detect(text) == "es"


@pytest.mark.parametrize("text", ["47105", "ok", "1", "", "   ", "$$$"])
def test_no_evidence_means_no_language(detector, text):
    assert detector.detect(text) is None


@pytest.mark.parametrize("text, lang", [
    ("english", "en"), ("English please", "en"), ("in english", "en"), ("ingles", "en"),
    ("en ingles por favor", "en"),
    ("Español", "es"), ("espanol", "es"), ("en espanol por favor", "es"), ("EN ESPAÑOL", "es"),
    ("spanish", "es"), ("castellano", "es"), ("mejor en español", "es"), ("can we speak spanish", "es"),
])
def test_explicit_switch(text, lang):
    assert explicit_switch(text) == lang


@pytest.mark.parametrize("text", [
    "I want to practice my english at work with my coworkers",  # long sentence
    "clases de ingles",              # a Spanish speaker asking for English classes
    "donde puedo aprender ingles",
    "english classes",
    "hola",
    "",
])
def test_no_switch_when_the_language_is_the_topic_or_absent(text):
    assert explicit_switch(text) is None


def test_switch_wins_over_detection(detector):
    assert detector.detect("en espanol por favor") == "es"
    assert detector.detect("english please") == "en"


def test_fold_strips_accents_but_keeps_n_tilde():
    assert fold("ÁÉÍÓÚ Ü Español") == "aeiou u español"
