"""The crisis set through the whole assistant: the keywords and the trained model together.

Why a second crisis test beside tests/test_safety.py: that one measures the keywords alone. In the
conversation a `crisis` intent from the model gets the same crisis reply as a keyword match
(docs/triage.md), so a look-alike the model takes for a crisis is a false alarm a resident sees, and a
crisis either one catches is caught. This test measures that union, through `python -m bot triage`
with the real model: every crisis message flagged, no look-alike flagged.
`pytest tests/test_crisis_stack.py -s` prints the figures quoted in docs/triage.md.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bot.rasa_client import RasaClient
from bot.safety import is_crisis
from tests.test_safety import CRISIS_SET
from tests.test_triage import run_triage

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


async def model_verdicts(stack, texts: list[str]) -> list[tuple[str, float]]:
    """The model's own intent and its `crisis` score for each text.

    Triage reports `crisis` when the keywords match, whatever the model said; this is the model alone.
    """
    async with aiohttp.ClientSession() as session:
        rasa = RasaClient(session, stack.rasa_url, stack.token, timeout=60)
        out = []
        for text in texts:
            parsed = await rasa.parse(text)
            score = next((i["confidence"] for i in parsed["intent_ranking"] if i["name"] == "crisis"), 0.0)
            out.append((parsed["intent"]["name"], score))
        return out


def test_every_crisis_message_is_flagged_and_no_lookalike_is(stack):
    texts = [r["text"] for r in CRISIS_SET]
    out = run_triage(stack, texts)
    assert [o["text"] for o in out] == texts
    verdicts = asyncio.run(model_verdicts(stack, texts))
    by_model = [intent for intent, _ in verdicts]

    lines = ["", "crisis set through `python -m bot triage` (keywords or model, real model)"]
    missed, false_alarms = [], []
    for language in ("en", "es"):
        crisis = [i for i, r in enumerate(CRISIS_SET) if r["language"] == language and r["expect"] == "crisis"]
        look = [i for i, r in enumerate(CRISIS_SET) if r["language"] == language and r["expect"] == "not_crisis"]
        missed += [texts[i] for i in crisis if out[i]["need"] != "crisis"]
        flagged = [i for i in look if out[i]["need"] == "crisis"]
        false_alarms += [(texts[i], by_model[i]) for i in flagged]
        caught = sum(out[i]["need"] == "crisis" for i in crisis)
        model_caught = sum(by_model[i] == "crisis" for i in crisis)
        by_keywords = sum(is_crisis(texts[i]) for i in flagged)
        lines.append(f"  {language}: crisis flagged {caught}/{len(crisis)} (model alone {model_caught}); "
                     f"look-alikes flagged {len(flagged)}/{len(look)} "
                     f"(by the model {len(flagged) - by_keywords}, by the keywords {by_keywords})")
    closest = max((score, texts[i]) for i, (_, score) in enumerate(verdicts) if CRISIS_SET[i]["expect"] == "not_crisis")
    lines.append(f"  highest crisis score the model gives a look-alike: {closest[0]:.2f} ({closest[1]!r}); "
                 "0.5 is needed to count")
    print("\n".join(lines))
    assert missed == [], "every crisis message must get the crisis reply"
    assert false_alarms == [], "no look-alike may get the crisis reply"
