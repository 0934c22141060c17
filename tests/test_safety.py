"""Crisis words are caught before the NLU: every crisis message, and no ordinary one.

`pytest tests/test_safety.py -s` prints the measured figures (recall and false alarms per language and
kind); docs/triage.md quotes them.
"""

from __future__ import annotations

import csv
from collections import Counter

import pytest
import yaml

from bot.redact import redact
from bot.safety import is_crisis
from referrals.config import ROOT

DATA = ROOT / "tests" / "data"


def rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def nlu_examples() -> list[tuple[str, str]]:
    """(intent, text) of every training example in data/nlu: ordinary messages the keywords must leave alone."""
    out = []
    for f in sorted((ROOT / "data" / "nlu").glob("*/*.yml")):
        for block in yaml.safe_load(f.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" in block:
                out += [(block["intent"], line.strip()[2:]) for line in block["examples"].splitlines() if line.strip()]
    return out


CRISIS_SET = rows("crisis_set.tsv")
HELDOUT = rows("triage_heldout.tsv")


def test_data_files_are_what_the_tests_expect():
    assert {r["expect"] for r in CRISIS_SET} == {"crisis", "not_crisis"}
    assert {r["kind"] for r in CRISIS_SET} == {"suicide", "violence", "danger", "lookalike"}
    counts = Counter((r["language"], r["expect"]) for r in CRISIS_SET)
    for language in ("en", "es"):
        assert counts[language, "crisis"] >= 60
        assert counts[language, "not_crisis"] >= 40
    assert all((r["kind"] == "lookalike") == (r["expect"] == "not_crisis") for r in CRISIS_SET)
    assert len({r["text"] for r in CRISIS_SET}) == len(CRISIS_SET)
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


def test_every_heldout_crisis_message_is_caught():
    missed = [r["text"] for r in HELDOUT if r["need"] == "crisis" and not is_crisis(r["text"])]
    assert missed == []


def test_redaction_changes_no_verdict():
    # The gateway redacts personal details before the crisis check; placeholders must not hide a crisis
    # ("he's at 123 Main St with a gun") nor make one.
    changed = [r["text"] for r in CRISIS_SET if is_crisis(redact(r["text"]).text) != (r["expect"] == "crisis")]
    assert changed == []
    assert is_crisis(redact("my ex is outside 4410 Oak Ave apt 2 with a gun call me 555-123-4567").text)
    assert is_crisis(redact("me tome 30 pastillas mi direccion es calle Juarez 123").text)
    assert is_crisis(redact("i took 30 pills").text)


def test_training_examples_agree_with_the_keywords():
    # The keywords run before the model: no ordinary training example may trip them, and every crisis
    # phrasing the model is taught is caught by the keywords too.
    examples = nlu_examples()
    assert [(i, t) for i, t in examples if i != "crisis" and is_crisis(t)] == []
    assert [t for i, t in examples if i == "crisis" and not is_crisis(t)] == []


def test_measured_figures():
    """Prints the figures quoted in docs/triage.md; fails if any is off target."""
    lines = ["", "crisis keywords on tests/data/crisis_set.tsv"]
    failures = 0
    for language in ("en", "es"):
        crisis = [r for r in CRISIS_SET if r["language"] == language and r["expect"] == "crisis"]
        caught = sum(is_crisis(r["text"]) for r in crisis)
        per_kind = ", ".join(
            f"{kind} {sum(is_crisis(r['text']) for r in crisis if r['kind'] == kind)}/"
            f"{sum(r['kind'] == kind for r in crisis)}" for kind in ("suicide", "violence", "danger"))
        look = [r for r in CRISIS_SET if r["language"] == language and r["expect"] == "not_crisis"]
        false_alarms = sum(is_crisis(r["text"]) for r in look)
        lines.append(f"  {language}: recall {caught}/{len(crisis)} = {caught / len(crisis):.1%} ({per_kind}); "
                     f"look-alikes flagged {false_alarms}/{len(look)}")
        failures += (len(crisis) - caught) + false_alarms
    ordinary = [r for r in HELDOUT if r["need"] != "crisis"]
    held_crisis = [r for r in HELDOUT if r["need"] == "crisis"]
    examples = nlu_examples()
    nlu_ordinary = [t for i, t in examples if i != "crisis"]
    nlu_crisis = [t for i, t in examples if i == "crisis"]
    lines.append(f"  held-out set: crisis caught {sum(is_crisis(r['text']) for r in held_crisis)}/{len(held_crisis)}, "
                 f"ordinary flagged {sum(is_crisis(r['text']) for r in ordinary)}/{len(ordinary)}")
    lines.append(f"  NLU training data: crisis caught {sum(map(is_crisis, nlu_crisis))}/{len(nlu_crisis)}, "
                 f"ordinary flagged {sum(map(is_crisis, nlu_ordinary))}/{len(nlu_ordinary)}")
    print("\n".join(lines))
    assert failures == 0


@pytest.mark.parametrize("text", ["", "   ", "47105", "1", "ok", "STOP", "help", "si", "[phone_number]",
                                  "i live at [street_address] and need a job"])
def test_empty_short_and_redacted_answers_are_not_crisis(text):
    assert is_crisis(text) is False


@pytest.mark.parametrize("text", [
    "I WANT TO KILL MYSELF", "Me quiero MATAR!!!", "k.m.s", "i want to d i e", "suicidal\u2026",
    "me quiero morír", "mi esposo me golpeó", "HE HITS ME",
])
def test_case_accents_and_punctuation_do_not_hide_a_crisis(text):
    assert is_crisis(text) is True
