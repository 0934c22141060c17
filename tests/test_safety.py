"""Crisis words are caught before the NLU: every crisis message, and no ordinary one."""

from __future__ import annotations

import csv

import pytest

from bot.safety import is_crisis
from referrals.config import ROOT

DATA = ROOT / "tests" / "data"


def rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


CRISIS_SET = rows("crisis_set.tsv")
HELDOUT = rows("triage_heldout.tsv")


def test_data_files_are_what_the_tests_expect():
    assert {r["expect"] for r in CRISIS_SET} == {"crisis", "not_crisis"}
    assert sum(r["expect"] == "crisis" for r in CRISIS_SET) >= 50
    assert sum(r["expect"] == "not_crisis" for r in CRISIS_SET) >= 20
    assert {r["language"] for r in CRISIS_SET} == {"en", "es"}
    assert sum(r["need"] != "crisis" for r in HELDOUT) >= 400


def test_every_crisis_message_is_caught():
    missed = [(r["kind"], r["text"]) for r in CRISIS_SET if r["expect"] == "crisis" and not is_crisis(r["text"])]
    assert missed == []


def test_no_lookalike_is_flagged():
    flagged = [(r["kind"], r["text"]) for r in CRISIS_SET if r["expect"] == "not_crisis" and is_crisis(r["text"])]
    assert flagged == []


def test_no_ordinary_heldout_message_is_flagged():
    flagged = [(r["need"], r["text"]) for r in HELDOUT if r["need"] != "crisis" and is_crisis(r["text"])]
    assert flagged == []


@pytest.mark.parametrize("text", ["", "   ", "47105", "1", "ok"])
def test_empty_and_short_answers_are_not_crisis(text):
    assert is_crisis(text) is False
