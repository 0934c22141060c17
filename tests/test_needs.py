"""The need taxonomy: domain intents, the shared needs.yml, and the NLU training data agree."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
import yaml

from referrals.config import ROOT
from referrals.needs import CONVERSATIONAL_INTENTS, NEEDS, PROGRAM_NEEDS, need_for_intent

SHARED_NEEDS = ROOT.parent / "shared" / "needs.yml"
NLU = ROOT / "data" / "nlu"


def domain_intents() -> list[str]:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["intents"]


def shared_needs() -> dict:
    if not SHARED_NEEDS.exists():
        pytest.skip(f"{SHARED_NEEDS} not found: cannot compare with the shared taxonomy")
    return yaml.safe_load(SHARED_NEEDS.read_text(encoding="utf-8"))["needs"]


def nlu_examples() -> dict[str, dict[str, list[str]]]:
    """intent -> language folder -> example texts (entity markup removed)."""
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(NLU.glob("*/*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            if "intent" not in block:
                continue
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    found[block["intent"]][path.parent.name].append(
                        re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line[2:]).strip())
    return found


def test_every_domain_intent_maps_to_a_known_need_or_none():
    labels = set(NEEDS)
    for intent in domain_intents():
        assert need_for_intent(intent) in labels | {None}, intent


def test_every_domain_intent_maps_to_a_shared_label_or_none():
    labels = set(shared_needs())
    unmapped = {i: need_for_intent(i) for i in domain_intents() if need_for_intent(i) not in labels | {None}}
    assert unmapped == {}


def test_need_labels_match_the_shared_taxonomy_exactly():
    shared = shared_needs()
    assert sorted(shared) == sorted(NEEDS)
    from referrals.needs import STAGES
    assert {n: v["stage"] for n, v in shared.items()} == STAGES


def test_every_need_has_an_intent_in_the_domain():
    assert set(NEEDS) <= set(domain_intents())
    assert set(PROGRAM_NEEDS) <= set(NEEDS)


def test_fallback_and_unknown_intents_are_out_of_scope():
    assert need_for_intent("nlu_fallback") == "out_of_scope"
    assert need_for_intent("order_pizza") == "out_of_scope"
    assert need_for_intent("") == "out_of_scope"
    assert need_for_intent(None) is None


@pytest.mark.parametrize("intent", ["greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge",
                                    "start_over", "inform", "choose_language"])
def test_conversational_intents_carry_no_need(intent):
    assert intent in CONVERSATIONAL_INTENTS
    assert need_for_intent(intent) is None


@pytest.mark.parametrize("need", ["employment", "job_training", "wages", "city_jobs", "small_business",
                                  "savings", "financial_coaching", "basic_needs", "crisis", "human",
                                  "out_of_scope"])
def test_need_intents_map_to_themselves(need):
    assert need_for_intent(need) == need


def test_every_nlu_intent_has_english_and_spanish_examples():
    examples = nlu_examples()
    assert set(examples) == set(domain_intents())
    missing = {intent: sorted({"en", "es"} - {lang for lang, texts in by_lang.items() if texts})
               for intent, by_lang in examples.items()}
    assert {i: m for i, m in missing.items() if m} == {}


def test_shared_development_examples_are_never_training_data():
    training = {t.lower() for by_lang in nlu_examples().values() for texts in by_lang.values() for t in texts}
    leaked = [(need, e) for need, spec in shared_needs().items() for e in spec["examples"]
              if e.strip().lower() in training]
    assert leaked == []
