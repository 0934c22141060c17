"""The need taxonomy (a copy of shared/needs.yml's labels) and the one intent -> need mapping.

Intents in the Rasa model may be finer than needs; `need_for_intent` is the only place that turns an
intent into a label. Conversational intents (greet, affirm, ...) carry no need and map to None.
`tests/test_needs.py` checks this table against domain.yml and against shared/needs.yml.
"""

from __future__ import annotations

STAGES: dict[str, str] = {
    "employment": "security",
    "job_training": "security",
    "wages": "security",
    "city_jobs": "security",
    "small_business": "wealth",
    "savings": "wealth",
    "financial_coaching": "security",
    "basic_needs": "stability",
    "crisis": "stability",
    "human": "any",
    "out_of_scope": "none",
}
NEEDS: tuple[str, ...] = tuple(STAGES)

# Needs that lead to program matching (the rest are handled by the conversation itself).
PROGRAM_NEEDS: tuple[str, ...] = (
    "employment", "job_training", "wages", "city_jobs",
    "small_business", "savings", "financial_coaching", "basic_needs",
)

CONVERSATIONAL_INTENTS: frozenset[str] = frozenset(
    {"greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge", "start_over", "inform",
     "choose_language"}
)

# Rasa's FallbackClassifier predicts nlu_fallback when confidence is below the threshold: the
# message is not understood, which for triage means "not one of our needs".
FALLBACK_INTENT = "nlu_fallback"

INTENT_TO_NEED: dict[str, str | None] = {
    **{need: need for need in NEEDS},
    **{intent: None for intent in CONVERSATIONAL_INTENTS},
    FALLBACK_INTENT: "out_of_scope",
}


def need_for_intent(intent: str | None) -> str | None:
    """The need label of an intent; unknown intents are out of scope rather than an error."""
    if intent is None:
        return None
    return INTENT_TO_NEED.get(intent, "out_of_scope")
